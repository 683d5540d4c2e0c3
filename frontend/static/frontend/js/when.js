// Dates and times in a given IANA zone, in the reader's own language.

export function formatStart(date, zone) {
  return new Intl.DateTimeFormat(undefined, {
    weekday: "long",
    day: "numeric",
    month: "long",
    hour: "numeric",
    minute: "2-digit",
    timeZone: zone,
  }).format(date);
}

export function formatTime(date, zone, withZoneName = false) {
  const options = { hour: "numeric", minute: "2-digit", timeZone: zone };
  if (withZoneName) {
    options.timeZoneName = "short";
  }
  return new Intl.DateTimeFormat(undefined, options).format(date);
}

export function formatDateTime(date, zone) {
  return new Intl.DateTimeFormat(undefined, {
    day: "numeric",
    month: "short",
    hour: "numeric",
    minute: "2-digit",
    timeZone: zone,
  }).format(date);
}
