// tokenizer.json patterns are Oniguruma regexes (what Hugging Face's `tokenizers` compiles them with);
// this turns one into a JavaScript regex that matches the same text.

/** Thrown (by the component parsers) for a component or field this implementation does not handle. */
export class UnsupportedTokenizerError extends Error {}

// Oniguruma on UTF-8 gives \s, \d and \w their Unicode meanings; JavaScript's are narrower (\d, \w) or
// differ (\s counts U+FEFF and not U+0085), so they are spelled out as properties.
const CLASS_ESCAPES: Record<string, string> = {
  s: '\\p{White_Space}',
  d: '\\p{Nd}',
  w: '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}',
};
const NEGATED_ESCAPES: Record<string, string> = { S: '\\P{White_Space}', D: '\\P{Nd}' };

/**
 * Translates an Oniguruma pattern: \s \d \w with their Unicode meanings, and `(?i:…)` groups (JavaScript
 * has no inline flags before ES2025) with each ASCII letter spelled as both cases. Constructs whose
 * meaning would change (possessive quantifiers, atomic groups, other inline flags, \W inside a class)
 * are refused rather than approximated.
 */
export function onigToJs(pattern: string, where: string): RegExp {
  let out = '';
  let inClass = false;
  const groups: boolean[] = []; // per open group: does it turn case-insensitivity on
  let ignoreCase = 0;
  const refuse = (what: string): never => {
    throw new UnsupportedTokenizerError(`${where}: regex ${JSON.stringify(pattern)} uses ${what}, which inkwell does not translate`);
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const e = pattern[i + 1];
      if (e === undefined) refuse('a trailing backslash');
      i++;
      if (e === 'p' || e === 'P') {
        // \p{L}, \pL
        const end = pattern[i + 1] === '{' ? pattern.indexOf('}', i) : i + 1;
        if (end < 0) refuse('an unterminated \\p{');
        const body = pattern.slice(i + 1, end + 1);
        out += `\\${e}${body.startsWith('{') ? body : `{${body}}`}`;
        i = end;
      } else if (e! in CLASS_ESCAPES) {
        out += inClass ? CLASS_ESCAPES[e!] : `[${CLASS_ESCAPES[e!]}]`;
      } else if (e! in NEGATED_ESCAPES) {
        out += NEGATED_ESCAPES[e!];
      } else if (e === 'W') {
        if (inClass) refuse('\\W inside a character class');
        out += `[^${CLASS_ESCAPES.w}]`;
      } else if (e === 'A') {
        out += '^';
      } else if (e === 'z') {
        out += '$';
      } else if (e === 'h' || e === 'H' || e === 'G' || e === 'K' || e === 'R' || e === 'X' || e === 'Z') {
        refuse(`\\${e}`);
      } else if (/[A-Za-z0-9^$\\.*+?()[\]{}|/]/.test(e!) || (inClass && e === '-')) {
        out += `\\${e}`;
      } else {
        out += e; // an identity escape such as \' (JavaScript's unicode mode refuses those)
      }
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      else if (c === '[') refuse('a nested character class');
      if (ignoreCase > 0 && /[a-zA-Z]/.test(c) && !(pattern[i - 1] === '-' || pattern[i + 1] === '-')) out += c.toLowerCase() + c.toUpperCase();
      else out += c === '/' ? '\\/' : c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (pattern[i + 1] === '^') out += pattern[++i];
      if (pattern[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(') {
      if (pattern.startsWith('(?i:', i)) {
        groups.push(true);
        ignoreCase++;
        out += '(?:';
        i += 3;
        continue;
      }
      if (pattern[i + 1] === '?') {
        const kind = pattern[i + 2];
        if (kind === '>') refuse('an atomic group');
        if (kind !== ':' && kind !== '=' && kind !== '!' && kind !== '<') refuse(`the group (?${kind}`);
      }
      groups.push(false);
      out += c;
      continue;
    }
    if (c === ')') {
      if (groups.pop()) ignoreCase--;
      out += c;
      continue;
    }
    if ((c === '+' || c === '*' || c === '?' || c === '}') && pattern[i + 1] === '+') refuse('a possessive quantifier');
    if (ignoreCase > 0 && /[a-zA-Z]/.test(c)) {
      out += `[${c.toLowerCase()}${c.toUpperCase()}]`;
      continue;
    }
    out += c;
  }
  try {
    return new RegExp(out, 'gu');
  } catch (err) {
    throw new UnsupportedTokenizerError(`${where}: regex ${JSON.stringify(pattern)} does not compile as JavaScript (${(err as Error).message})`);
  }
}

/** A literal string as a global regex. */
export function literalRegex(text: string): RegExp {
  return new RegExp(text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'), 'gu');
}
