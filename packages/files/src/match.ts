import picomatch from 'picomatch';

/**
 * A matcher for one name (no folders): `*`, `?`, `[..]`, `{a,b}`; dot names match only a pattern
 * that starts with a dot. The same glob dialect as `glob`'s segments.
 */
export function nameMatcher(pattern: string): (name: string) => boolean {
  const m = picomatch(pattern, { dot: false });
  return (name: string) => m(name);
}
