/** When the broker stored a JetStream message (its info's nanosecond timestamp), as a Date. */
export function storedAt(info: { timestampNanos: number | bigint }): Date {
  return new Date(Math.floor(Number(info.timestampNanos) / 1e6));
}
