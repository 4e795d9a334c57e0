/**
 * A Traccar Client / OsmAnd device id bound to a vehicle is a credential: a request carrying only that id
 * is stored for the vehicle. So it must not be guessable (docs/formats.md, decision 0016). The rule:
 *
 * - at least 12 characters;
 * - if only digits, at least 20: serial numbers, IMEIs (15 digits), phone numbers (at most 15) and the
 *   ids Traccar Client generates (6 or 8 digits, at most 90 million values) are public or enumerable;
 * - at least 6 different characters (`aaaaaaaaaaaa`, `abcabcabcabc`);
 * - not a run: fewer than half of its neighbouring characters equal or one apart (`abcdefghijkl`,
 *   `123456789012`, `aabbccddeeff`).
 *
 * It catches ids anyone would try first; it cannot tell a word someone chose from a random string, so the
 * documentation asks for a random one (`uuidgen`). A random id of 12 or more letters and
 * digits almost always passes (hexadecimal: 12 characters about 99 in 100, 20 all but 1 in 2,000; a UUID
 * always).
 */
export const MIN_DEVICE_ID_LENGTH = 12;
export const MIN_DIGITS_ONLY_LENGTH = 20;
export const MIN_DISTINCT_CHARACTERS = 6;

export function isStrongDeviceId(id: string): boolean {
  const chars = [...id];
  if (chars.length < MIN_DEVICE_ID_LENGTH) return false;
  if (/^\d+$/.test(id) && chars.length < MIN_DIGITS_ONLY_LENGTH) return false;
  if (new Set(chars).size < MIN_DISTINCT_CHARACTERS) return false;
  let close = 0;
  for (let i = 1; i < chars.length; i++) {
    if (Math.abs(chars[i]!.codePointAt(0)! - chars[i - 1]!.codePointAt(0)!) <= 1) close++;
  }
  return close * 2 < chars.length - 1;
}

/**
 * The one refusal of a Traccar Client id that cannot be bound, whether it is too weak or already bound to
 * another vehicle: a distinct answer for the second would confirm that someone uses the id.
 */
export const OSMAND_ID_REFUSAL =
  'deviceId: this Traccar Client id cannot be bound. Use an id of your own that is at least 12 random ' +
  'characters, not a pattern (digits only: at least 20), e.g. a UUID (`uuidgen`), and set it in ' +
  'the app';

/** The same for OwnTracks `user/device` names (they do not authenticate; a token always comes with them). */
export const OWNTRACKS_ID_REFUSAL =
  'deviceId: this OwnTracks device cannot be bound. Use "<user>/<device>" without spaces, # or +, and ' +
  'a name of your own';
