// Text placed inside SVG or HTML markup (element content or a double-quoted attribute).
export function escapeMarkup(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
