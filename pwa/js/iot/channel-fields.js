// A channel's eight fields: the ones with a name are the ones its screens show and chart.

export const FIELD_NUMBERS = [1, 2, 3, 4, 5, 6, 7, 8];

/** [[n, name]] for the channel's named fields. */
export function namedFields(channel) {
  return FIELD_NUMBERS.filter((n) => channel[`field${n}`]).map((n) => [n, channel[`field${n}`]]);
}
