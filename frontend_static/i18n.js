// The browser side of Django i18n, for the ES modules and the plain scripts alike.
//
// base.html loads Django's JavaScriptCatalog (/jsi18n/<lang>/) as a plain script before any
// module: it defines window.gettext, ngettext and pgettext for the page's language. These
// wrappers fall back to English when it is missing (a page rendered without it), and say which
// language and time zone the page is in (<html lang data-time-zone>), so dates, times and
// numbers are formatted with Intl for the user's language, in the user's time zone.
//
// Marking strings: gettext("Literal text") — a literal, so `manage.py makemessages -d djangojs`
// finds it; values go in with interpolate(gettext("Offer expired: %(name)s"), {name}).

const root = document.documentElement;

/** The page's language ("en", "de", "es") and time zone (an IANA name; undefined: browser's). */
export const language = root.lang || "en";
export const timeZone = root.dataset.timeZone || undefined;

export function gettext(msgid) {
  return typeof window.gettext === "function" ? window.gettext(msgid) : msgid;
}

export function ngettext(singular, plural, count) {
  if (typeof window.ngettext === "function") return window.ngettext(singular, plural, count);
  return count === 1 ? singular : plural;
}

export function pgettext(context, msgid) {
  return typeof window.pgettext === "function" ? window.pgettext(context, msgid) : msgid;
}

/** "%(name)s" placeholders filled from `values` (Django's named interpolate). */
export function interpolate(format, values) {
  return format.replace(/%\((\w+)\)s/g, (whole, key) =>
    Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole,
  );
}

function safeFormat(factory, fallback) {
  try {
    return factory();
  } catch (error) {
    return fallback(); // an unknown time zone or locale: the browser's own
  }
}

const numberFormats = new Map();

/** 1234567 → "1,234,567" (en) / "1.234.567" (de) / "1.234.567" (es). */
export function formatNumber(value, options = {}) {
  const key = JSON.stringify(options);
  if (!numberFormats.has(key)) {
    numberFormats.set(
      key,
      safeFormat(
        () => new Intl.NumberFormat(language, options),
        () => new Intl.NumberFormat(undefined, options),
      ),
    );
  }
  return numberFormats.get(key).format(value);
}

/** A 0..1 ratio as a percentage: 0.875 → "87.5%" (en) / "87,5 %" (de, es). */
export function formatPercent(ratio, digits = 1) {
  return formatNumber(ratio, {
    style: "percent",
    minimumFractionDigits: 0,
    maximumFractionDigits: digits,
  });
}

const timeFormats = new Map();

function dateTimeFormat(options) {
  const key = JSON.stringify(options);
  if (!timeFormats.has(key)) {
    timeFormats.set(
      key,
      safeFormat(
        () => new Intl.DateTimeFormat(language, { ...options, timeZone }),
        () => new Intl.DateTimeFormat(undefined, options),
      ),
    );
  }
  return timeFormats.get(key);
}

/** A time of day in the user's zone: "14:05" (de, es) or "2:05 PM" (en). */
export function formatTime(ms, { seconds = false } = {}) {
  const options = { hour: "2-digit", minute: "2-digit" };
  if (seconds) options.second = "2-digit";
  return dateTimeFormat(options).format(new Date(ms));
}

/** A date and time in the user's zone: "03.12.2026, 14:05" (de). */
export function formatDateTime(ms) {
  return dateTimeFormat({ dateStyle: "short", timeStyle: "short" }).format(new Date(ms));
}
