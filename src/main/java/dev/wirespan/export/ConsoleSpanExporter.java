package dev.wirespan.export;

import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.opentelemetry.semconv.ErrorAttributes;
import io.opentelemetry.semconv.HttpAttributes;
import io.opentelemetry.semconv.NetworkAttributes;
import io.opentelemetry.semconv.ServiceAttributes;
import java.io.PrintStream;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Collection;
import java.util.Locale;
import java.util.Objects;

/**
 * One line per span for people watching a terminal:
 *
 * <pre>
 * 2026-11-24T21:03:04.123 SERVER python3 GET /users/{id} 200 12.3ms &lt;- 127.0.0.1:53422 trace=4bf92f35
 * </pre>
 *
 * <p>Start time (local), kind, {@code service.name}, span name, status code ({@code -} when no
 * response), duration, {@code <-} the client of a SERVER span or {@code ->} the server of a
 * CLIENT span (the network peer), the first {@value #SHORT_TRACE_ID_CHARS} hex digits of the
 * trace id, and {@code error=<error.type>} when the error is not the status code itself.
 */
public final class ConsoleSpanExporter implements SpanExporter {
  public static final int SHORT_TRACE_ID_CHARS = 8;
  private static final double NANOS_PER_MILLI = 1_000_000.0;
  private static final DateTimeFormatter TIME =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS", Locale.ROOT);

  private final PrintStream out;
  private final ZoneId zone;

  public ConsoleSpanExporter(PrintStream out) {
    this(out, ZoneId.systemDefault());
  }

  public ConsoleSpanExporter(PrintStream out, ZoneId zone) {
    this.out = Objects.requireNonNull(out, "out");
    this.zone = Objects.requireNonNull(zone, "zone");
  }

  /** The line of one span, without line terminator. */
  public String format(SpanData span) {
    Attributes a = span.getAttributes();
    StringBuilder line = new StringBuilder(128);
    line.append(TIME.format(Instant.ofEpochSecond(0, span.getStartEpochNanos()).atZone(zone)));
    line.append(' ').append(span.getKind());
    String service = span.getResource().getAttribute(ServiceAttributes.SERVICE_NAME);
    line.append(' ').append(service == null ? "-" : service);
    line.append(' ').append(span.getName());
    Long status = a.get(HttpAttributes.HTTP_RESPONSE_STATUS_CODE);
    line.append(' ').append(status == null ? "-" : status.toString());
    double millis = (span.getEndEpochNanos() - span.getStartEpochNanos()) / NANOS_PER_MILLI;
    line.append(' ').append(String.format(Locale.ROOT, "%.1f", millis)).append("ms");
    String peer = a.get(NetworkAttributes.NETWORK_PEER_ADDRESS);
    if (peer != null) {
      line.append(span.getKind() == SpanKind.SERVER ? " <- " : " -> ");
      line.append(peer.indexOf(':') >= 0 ? "[" + peer + "]" : peer);
      Long port = a.get(NetworkAttributes.NETWORK_PEER_PORT);
      if (port != null) {
        line.append(':').append(port);
      }
    }
    String traceId = span.getSpanContext().getTraceId();
    line.append(" trace=").append(traceId, 0, SHORT_TRACE_ID_CHARS);
    String error = a.get(ErrorAttributes.ERROR_TYPE);
    if (error != null && (status == null || !error.equals(status.toString()))) {
      line.append(" error=").append(error);
    }
    return line.toString();
  }

  @Override
  public CompletableResultCode export(Collection<SpanData> spans) {
    StringBuilder batch = new StringBuilder(spans.size() * 128);
    for (SpanData span : spans) {
      batch.append(format(span)).append(System.lineSeparator());
    }
    out.print(batch);
    out.flush();
    return out.checkError() ? CompletableResultCode.ofFailure() : CompletableResultCode.ofSuccess();
  }

  @Override
  public CompletableResultCode flush() {
    out.flush();
    return CompletableResultCode.ofSuccess();
  }

  @Override
  public CompletableResultCode shutdown() {
    out.flush();
    return CompletableResultCode.ofSuccess();
  }
}
