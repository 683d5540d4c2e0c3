from django.urls import path

from frontend import views

app_name = "frontend"

urlpatterns = [
    path("", views.home, name="home"),
    path("signin", views.signin, name="signin"),
    path("signout", views.signout, name="signout"),
    path("invite/<str:token>", views.invite, name="invite"),
    path("join/<str:room_id>/", views.join, name="join"),
    path("rooms/<str:room_id>/check", views.check, name="check"),
    path("rooms/<str:room_id>/", views.room, name="room"),
    path("threads/", views.inbox, name="inbox"),
    path("threads/<str:room_id>/", views.thread, name="thread"),
]
