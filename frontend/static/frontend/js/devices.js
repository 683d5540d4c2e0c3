// The person's chosen camera, microphone and speaker, remembered on this device so the room
// page opens with the same ones.

const KEY = "hearth.devices";

export function loadDeviceChoice() {
  try {
    return JSON.parse(window.localStorage.getItem(KEY) || "{}");
  } catch {
    return {};
  }
}

export function saveDeviceChoice(choice) {
  try {
    window.localStorage.setItem(KEY, JSON.stringify(choice));
  } catch {
    // Private browsing may refuse storage; the defaults still work.
  }
}

export function mediaConstraints(choice) {
  return {
    audio: choice.microphone ? { deviceId: { exact: choice.microphone } } : true,
    video: choice.camera ? { deviceId: { exact: choice.camera } } : true,
  };
}

// Which browser's settings screens to describe when permission is denied.
export function browserFamily(userAgent = navigator.userAgent) {
  if (/Firefox\//.test(userAgent)) {
    return "firefox";
  }
  if (/Edg\//.test(userAgent) || /Chrome\/|CriOS\//.test(userAgent)) {
    return "chrome";
  }
  if (/Safari\//.test(userAgent)) {
    return "safari";
  }
  return "other";
}

export function isMobile(userAgent = navigator.userAgent) {
  return /Android|iPhone|iPad|iPod/.test(userAgent);
}

export function permissionHelp(family, mobile) {
  if (family === "chrome") {
    return mobile
      ? [
          "Tap the icon at the left of the address bar (a lock or sliders).",
          "Tap Permissions, then set Camera and Microphone to Allow.",
          "Come back to this page and press Try again.",
        ]
      : [
          "Click the camera icon or the icon at the left of the address bar.",
          "Choose Always allow for the camera and microphone, or set both to Allow in Site settings.",
          "Press Try again. If it still does not work, reload the page.",
        ];
  }
  if (family === "safari") {
    return mobile
      ? [
          "Tap the aA button in the address bar, then Website Settings.",
          "Set Camera and Microphone to Allow, then tap Done.",
          "If they are missing, open the Settings app, then Safari, and allow Camera and Microphone.",
          "Come back to this page and press Try again.",
        ]
      : [
          "In the Safari menu, choose Settings for This Website.",
          "Set Camera and Microphone to Allow.",
          "Press Try again.",
        ];
  }
  if (family === "firefox") {
    return [
      "Click the crossed-out camera or microphone icon at the left of the address bar.",
      "Click the small x next to Blocked Temporarily or Blocked to clear it.",
      "Press Try again and choose Allow when Firefox asks.",
    ];
  }
  return [
    "Open your browser's settings for this website.",
    "Allow the camera and the microphone.",
    "Press Try again.",
  ];
}
