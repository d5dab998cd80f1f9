package dev.wirespan.export;

import io.opentelemetry.exporter.internal.otlp.traces.TraceRequestMarshaler;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collection;
import java.util.Objects;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Appends each batch as one OTLP/JSON {@code ExportTraceServiceRequest} per line, as the
 * Collector's file exporter writes (trace and span ids in hex, per the OTLP/JSON encoding). The
 * file is flushed after every batch. Thread-safe.
 */
public final class JsonLinesSpanExporter implements SpanExporter {
  private static final Logger LOG = Logger.getLogger(JsonLinesSpanExporter.class.getName());
  private static final int INITIAL_LINE_BYTES = 8192;

  private final OutputStream out;
  private final String description;
  private final ByteArrayOutputStream line = new ByteArrayOutputStream(INITIAL_LINE_BYTES);
  private boolean shutdown;

  private JsonLinesSpanExporter(OutputStream out, String description) {
    this.out = Objects.requireNonNull(out, "out");
    this.description = description;
  }

  /** Appends to {@code file}, creating it when missing. */
  public static JsonLinesSpanExporter open(Path file) throws IOException {
    Objects.requireNonNull(file, "file");
    OutputStream out =
        Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    return new JsonLinesSpanExporter(new BufferedOutputStream(out), file.toString());
  }

  /** Writes to a stream (closed on shutdown). */
  public static JsonLinesSpanExporter to(OutputStream out) {
    return new JsonLinesSpanExporter(out, "stream");
  }

  @Override
  public synchronized CompletableResultCode export(Collection<SpanData> spans) {
    if (shutdown) {
      return CompletableResultCode.ofFailure();
    }
    if (spans.isEmpty()) {
      return CompletableResultCode.ofSuccess();
    }
    try {
      line.reset();
      TraceRequestMarshaler.create(spans).writeJsonTo(line);
      line.write('\n');
      line.writeTo(out);
      out.flush();
      return CompletableResultCode.ofSuccess();
    } catch (IOException | RuntimeException e) {
      LOG.log(Level.WARNING, "cannot write spans to " + description, e);
      return CompletableResultCode.ofExceptionalFailure(e);
    }
  }

  @Override
  public synchronized CompletableResultCode flush() {
    try {
      out.flush();
      return CompletableResultCode.ofSuccess();
    } catch (IOException e) {
      return CompletableResultCode.ofExceptionalFailure(e);
    }
  }

  @Override
  public synchronized CompletableResultCode shutdown() {
    if (shutdown) {
      return CompletableResultCode.ofSuccess();
    }
    shutdown = true;
    try {
      out.close();
      return CompletableResultCode.ofSuccess();
    } catch (IOException e) {
      return CompletableResultCode.ofExceptionalFailure(e);
    }
  }

  @Override
  public String toString() {
    return "JsonLinesSpanExporter{" + description + "}";
  }
}
