from django.http import HttpRequest, HttpResponse


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        "<!doctype html><title>Hearth</title><h1>Hearth</h1>"
        "<p>The API is at <a href='/api/docs'>/api/docs</a>.</p>",
    )
