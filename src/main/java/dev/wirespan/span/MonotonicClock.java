package dev.wirespan.span;

import io.opentelemetry.sdk.common.Clock;
import java.time.Duration;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * Converts kernel CLOCK_MONOTONIC timestamps (what BPF programs record) to epoch nanoseconds.
 *
 * <p>The offset between the two clocks is measured as {@code epoch now - monotonic now}; on Linux
 * {@link System#nanoTime()} reads CLOCK_MONOTONIC, the same clock as {@code bpf_ktime_get_ns}.
 * The offset drifts when NTP slews the wall clock, so it is measured again once per
 * recalibration interval (checked lazily on conversion; one volatile read on the hot path).
 * Thread-safe.
 */
public final class MonotonicClock {
  public static final Duration DEFAULT_RECALIBRATION_INTERVAL = Duration.ofSeconds(10);

  private final LongSupplier epochNanos;
  private final LongSupplier monotonicNanos;
  private final long recalibrationIntervalNanos;

  private volatile Calibration calibration;

  /** The system clocks, recalibrated every {@link #DEFAULT_RECALIBRATION_INTERVAL}. */
  public static MonotonicClock system() {
    return new MonotonicClock(
        Clock.getDefault()::now, System::nanoTime, DEFAULT_RECALIBRATION_INTERVAL);
  }

  /**
   * @param epochNanos wall clock in nanoseconds since the epoch
   * @param monotonicNanos the kernel's CLOCK_MONOTONIC in nanoseconds
   * @param recalibrationInterval how long an offset measurement is trusted
   */
  public MonotonicClock(
      LongSupplier epochNanos, LongSupplier monotonicNanos, Duration recalibrationInterval) {
    this.epochNanos = Objects.requireNonNull(epochNanos, "epochNanos");
    this.monotonicNanos = Objects.requireNonNull(monotonicNanos, "monotonicNanos");
    this.recalibrationIntervalNanos =
        Objects.requireNonNull(recalibrationInterval, "recalibrationInterval").toNanos();
    recalibrate();
  }

  /** Epoch nanoseconds of a CLOCK_MONOTONIC timestamp. */
  public long toEpochNanos(long monotonicTimestampNanos) {
    Calibration c = calibration;
    if (monotonicNanos.getAsLong() - c.measuredAtMonotonicNanos >= recalibrationIntervalNanos) {
      c = recalibrate();
    }
    return monotonicTimestampNanos + c.offsetNanos;
  }

  /** The current offset, epoch minus monotonic, in nanoseconds. */
  public long offsetNanos() {
    return calibration.offsetNanos;
  }

  /** Measures the offset now. */
  public Calibration recalibrate() {
    // Bracket the wall clock read with two monotonic reads and take their midpoint, so that a
    // preemption between reads skews the offset by at most half the gap.
    long before = monotonicNanos.getAsLong();
    long epoch = epochNanos.getAsLong();
    long after = monotonicNanos.getAsLong();
    long mid = before + (after - before) / 2;
    Calibration c = new Calibration(epoch - mid, after);
    calibration = c;
    return c;
  }

  /** One offset measurement. */
  public record Calibration(long offsetNanos, long measuredAtMonotonicNanos) {}
}
