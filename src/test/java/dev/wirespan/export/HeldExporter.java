package dev.wirespan.export;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/** An exporter whose calls stay open until the test completes them, as a slow collector's. */
final class HeldExporter implements SpanExporter {
  private static final Duration WAIT = Duration.ofSeconds(10);
  final BlockingQueue<Call> calls = new LinkedBlockingQueue<>();
  final AtomicInteger open = new AtomicInteger();
  final AtomicInteger maxOpen = new AtomicInteger();
  final AtomicBoolean shutDown = new AtomicBoolean();

  record Call(List<SpanData> spans, CompletableResultCode result) {}

  @Override
  public CompletableResultCode export(Collection<SpanData> batch) {
    CompletableResultCode result = new CompletableResultCode();
    maxOpen.accumulateAndGet(open.incrementAndGet(), Math::max);
    result.whenComplete(open::decrementAndGet);
    calls.add(new Call(new ArrayList<>(batch), result));
    return result;
  }

  Call next() throws InterruptedException {
    Call c = calls.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(c).as("an export call").isNotNull();
    return c;
  }

  @Override
  public CompletableResultCode flush() {
    return CompletableResultCode.ofSuccess();
  }

  @Override
  public CompletableResultCode shutdown() {
    shutDown.set(true);
    return CompletableResultCode.ofSuccess();
  }
}
