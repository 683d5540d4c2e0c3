// The device's time zone and the list to choose from, from the browser's own Intl data.

export function deviceTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

export function allTimeZones() {
  if (typeof Intl.supportedValuesOf === "function") {
    try {
      return Intl.supportedValuesOf("timeZone");
    } catch {
      // Fall through to the short list.
    }
  }
  return ["UTC", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "Europe/London"];
}

// "America/New_York" -> "America / New York" for reading aloud and at a glance.
export function zoneLabel(zone) {
  return zone.replaceAll("_", " ").replaceAll("/", " / ");
}

export function fillTimeZoneSelect(select, selected) {
  const zones = allTimeZones();
  if (!zones.includes(selected)) {
    zones.unshift(selected);
  }
  const options = zones.map((zone) => {
    const option = document.createElement("option");
    option.value = zone;
    option.textContent = zoneLabel(zone);
    option.selected = zone === selected;
    return option;
  });
  select.replaceChildren(...options);
}
