// Python's str.format, as far as rt-cloud's file name patterns use it ('{TR:03d}', '{SCAN}',
// '{}', '{0}', '{{'), and rt-cloud's utils.stringPartialFormat. No Node or DOM imports.

import { ValidationError } from '@rtfmri/transport';

type FormatArg = string | number | bigint | boolean;

const SPEC = /^(?:(.)?([<>=^]))?([+\- ])?(z)?(#)?(0)?(\d+)?([_,])?(?:\.(\d+))?([bcdeEfFgGnosxX%])?$/s;

function groupDigits(digits: string, sep: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, sep);
}

/** Formats one value by a Python format spec (the part after ':'). */
export function formatValue(value: FormatArg, spec: string): string {
  const m = SPEC.exec(spec);
  if (!m) throw new ValidationError(`Invalid format specifier '${spec}'`);
  const [, fillCh, alignCh, sign = '-', , alt, zero, widthS, grouping, precS, type] = m;
  let fill = fillCh ?? ' ';
  let align = alignCh;
  const width = widthS ? Number(widthS) : 0;
  const prec = precS !== undefined ? Number(precS) : undefined;
  const isNum = typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean';
  if (zero && !alignCh) {
    fill = '0';
    align = '=';
  }
  let body: string;
  let prefix = '';
  let neg = false;
  if (!isNum) {
    if (type && type !== 's') throw new ValidationError(`Unknown format code '${type}' for object of type 'str'`);
    body = prec !== undefined ? String(value).slice(0, prec) : String(value);
    align ??= '<';
    if (align === '=') throw new ValidationError("'=' alignment not allowed in string format specifier");
  } else {
    const x = typeof value === 'boolean' ? Number(value) : value;
    const intTypes = 'bcdoxXn';
    if (type && intTypes.includes(type)) {
      if (typeof x === 'number' && !Number.isInteger(x)) throw new ValidationError(`Unknown format code '${type}' for object of type 'float'`);
      const bi = BigInt(x);
      neg = bi < 0n;
      const abs = neg ? -bi : bi;
      const radix = type === 'b' ? 2 : type === 'o' ? 8 : type === 'x' || type === 'X' ? 16 : 10;
      if (type === 'c') body = String.fromCodePoint(Number(abs));
      else body = abs.toString(radix);
      if (type === 'X') body = body.toUpperCase();
      if (alt && radix !== 10) prefix = radix === 2 ? '0b' : radix === 8 ? '0o' : type === 'X' ? '0X' : '0x';
      if (grouping && radix === 10) body = groupDigits(body, grouping);
    } else {
      const f = Number(x);
      neg = f < 0 || Object.is(f, -0);
      const a = Math.abs(f);
      const t = type ?? (typeof x === 'number' && !Number.isInteger(x) ? 'g' : 'd');
      if (t === 'd' && (typeof x === 'bigint' || Number.isInteger(f))) body = BigInt(typeof x === 'bigint' ? (x < 0n ? -x : x) : a).toString();
      else if (t === 'f' || t === 'F') body = a.toFixed(prec ?? 6);
      else if (t === '%') body = (a * 100).toFixed(prec ?? 6) + '%';
      else if (t === 'e' || t === 'E') {
        body = a.toExponential(prec ?? 6).replace(/e([+-])(\d)$/, 'e$10$2');
        if (t === 'E') body = body.toUpperCase();
      } else {
        // 'g' and the default for floats (Python's repr-like general format).
        body = type === undefined && prec === undefined ? String(a) : pyG(a, prec ?? 6, t === 'G');
      }
      if (grouping) {
        const [i, rest] = body.split(/(?=[.e%])/, 2);
        body = groupDigits(i, grouping) + (body.slice(i.length) || (rest ?? ''));
      }
    }
    align ??= '>';
  }
  const signStr = (isNum ? (neg ? '-' : sign === '+' ? '+' : sign === ' ' ? ' ' : '') : '') + prefix;
  const len = signStr.length + body.length;
  if (width <= len) return signStr + body;
  const pad = fill.repeat(width - len);
  switch (align) {
    case '<': return signStr + body + pad;
    case '^': {
      const left = fill.repeat(Math.floor((width - len) / 2));
      const right = fill.repeat(width - len - left.length);
      return left + signStr + body + right;
    }
    case '=': return signStr + pad + body;
    default: return pad + signStr + body;
  }
}

function pyG(a: number, p: number, upper: boolean): string {
  const prec = p === 0 ? 1 : p;
  if (a === 0) return '0';
  const exp = Number(a.toExponential(prec - 1).split('e')[1]);
  let s: string;
  if (exp >= -4 && exp < prec) s = a.toFixed(prec - 1 - exp).replace(/\.?0+$/, '');
  else {
    const [m, e] = a.toExponential(prec - 1).split('e');
    const en = Number(e);
    s = `${m.includes('.') ? m.replace(/\.?0+$/, '') : m}e${en < 0 ? '-' : '+'}${String(Math.abs(en)).padStart(2, '0')}`;
  }
  return upper ? s.toUpperCase() : s;
}

/**
 * Python's `text.format(*args, **kwargs)` for plain fields: '{}', '{0}', '{name}', each with an
 * optional ':spec' (and '!s' / '!r'), and '{{' / '}}' for braces. Attribute and index lookups
 * ('{a.b}', '{a[0]}') and nested specs are not supported. A missing field is a ValidationError
 * naming it (Python's KeyError / IndexError).
 */
export function pyFormat(text: string, args: FormatArg[] = [], kwargs: Record<string, FormatArg> = {}): string {
  let out = '';
  let auto = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '{') {
      if (text[i + 1] === '{') {
        out += '{';
        i += 2;
        continue;
      }
      const end = text.indexOf('}', i);
      if (end < 0) throw new ValidationError(`Single '{' encountered in format string: ${text}`);
      const field = text.slice(i + 1, end);
      if (field.includes('{')) throw new ValidationError(`nested format fields are not supported: ${text}`);
      const colon = field.indexOf(':');
      let name = colon >= 0 ? field.slice(0, colon) : field;
      const spec = colon >= 0 ? field.slice(colon + 1) : '';
      let conv: string | undefined;
      const bang = name.indexOf('!');
      if (bang >= 0) {
        conv = name.slice(bang + 1);
        name = name.slice(0, bang);
      }
      let value: FormatArg | undefined;
      if (name === '') {
        if (auto >= args.length) throw new ValidationError(`Replacement index ${auto} out of range for positional args tuple: ${text}`);
        value = args[auto++];
      } else if (/^\d+$/.test(name)) {
        const k = Number(name);
        if (k >= args.length) throw new ValidationError(`Replacement index ${k} out of range for positional args tuple: ${text}`);
        value = args[k];
      } else {
        if (/[.[]/.test(name)) throw new ValidationError(`attribute or index lookups are not supported: {${field}}`);
        if (!Object.prototype.hasOwnProperty.call(kwargs, name)) throw new ValidationError(`KeyError: '${name}' (in pattern ${text})`);
        value = kwargs[name];
      }
      if (conv === 's') value = String(value);
      else if (conv === 'r') value = typeof value === 'string' ? `'${value}'` : String(value);
      else if (conv !== undefined) throw new ValidationError(`Unknown conversion specifier ${conv}`);
      out += formatValue(value, spec);
      i = end + 1;
    } else if (ch === '}') {
      if (text[i + 1] !== '}') throw new ValidationError(`Single '}' encountered in format string: ${text}`);
      out += '}';
      i += 2;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * rt-cloud's utils.stringPartialFormat(text, tag, val): fills only the `{tag...}` fields of a
 * pattern and leaves the others, e.g. ('001_{SCAN:06d}_{TR:06d}.dcm', 'SCAN', 13) ->
 * '001_000013_{TR:06d}.dcm'.
 */
export function stringPartialFormat(text: string, tag: string, val: FormatArg): string {
  if (typeof text !== 'string' || typeof tag !== 'string') throw new ValidationError('stringPartialFormat(text, tag, val): text and tag must be strings');
  const re = new RegExp('\\{' + escapeRegExp(tag) + '.*?\\}', 'g');
  return text.replace(re, (match) => pyFormat(match.split(tag).join(''), [val]));
}
