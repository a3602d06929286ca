// Translations for the page scripts: Django's JavaScriptCatalog (window.gettext) when the page
// loads it, else the English text as written.
export function gettext(text) {
  return typeof window.gettext === "function" ? window.gettext(text) : text;
}
