/**
 * GPT-2's files spell each byte as a printable character (bytes_to_unicode in OpenAI's encoder.py):
 * printable Latin-1 bytes stand for themselves, the rest map to U+0100 onwards in byte order.
 */
export const BYTE_TO_UNICODE: string[] = (() => {
  const isPrintable = (byte: number) => (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
  let nextCodePoint = 256;
  return Array.from({ length: 256 }, (_, byte) => String.fromCharCode(isPrintable(byte) ? byte : nextCodePoint++));
})();

export const UNICODE_TO_BYTE = new Map(BYTE_TO_UNICODE.map((char, byte) => [char, byte]));
