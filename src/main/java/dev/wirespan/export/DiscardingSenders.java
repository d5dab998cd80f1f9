package dev.wirespan.export;

import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.common.export.Compressor;
import io.opentelemetry.sdk.common.export.GrpcResponse;
import io.opentelemetry.sdk.common.export.GrpcSender;
import io.opentelemetry.sdk.common.export.GrpcSenderConfig;
import io.opentelemetry.sdk.common.export.GrpcSenderProvider;
import io.opentelemetry.sdk.common.export.GrpcStatusCode;
import io.opentelemetry.sdk.common.export.HttpResponse;
import io.opentelemetry.sdk.common.export.HttpSender;
import io.opentelemetry.sdk.common.export.HttpSenderConfig;
import io.opentelemetry.sdk.common.export.HttpSenderProvider;
import io.opentelemetry.sdk.common.export.MessageWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import javax.annotation.Nullable;

/**
 * OTLP senders (the SDK's sender SPI) that marshal every export request, compressed when the
 * exporter is configured to, into nothing and answer success at once, on the calling thread. An
 * OTLP exporter built on them runs all of its own code but never opens a connection: the agent's
 * start-up warm-up ({@link ExporterFactory#forWarmup}) exports through them.
 */
final class DiscardingSenders implements HttpSenderProvider, GrpcSenderProvider {
  private static final byte[] NO_BYTES = new byte[0];

  private final AtomicLong bytes = new AtomicLong();

  /** Bytes of export requests marshaled (after compression) and discarded. */
  long bytesDiscarded() {
    return bytes.get();
  }

  @Override
  public HttpSender createSender(HttpSenderConfig config) {
    Compressor compressor = config.getCompressor();
    return new HttpSender() {
      @Override
      public void send(
          MessageWriter message, Consumer<HttpResponse> onResponse, Consumer<Throwable> onError) {
        discard(message, compressor, onResponse, HTTP_OK, onError);
      }

      @Override
      public CompletableResultCode shutdown() {
        return CompletableResultCode.ofSuccess();
      }
    };
  }

  @Override
  public GrpcSender createSender(GrpcSenderConfig config) {
    Compressor compressor = config.getCompressor();
    return new GrpcSender() {
      @Override
      public void send(
          MessageWriter message, Consumer<GrpcResponse> onResponse, Consumer<Throwable> onError) {
        discard(message, compressor, onResponse, GRPC_OK, onError);
      }

      @Override
      public CompletableResultCode shutdown() {
        return CompletableResultCode.ofSuccess();
      }
    };
  }

  /** Marshals {@code message} (compressed when configured) into nothing, then answers {@code ok}. */
  private <R> void discard(
      MessageWriter message,
      @Nullable Compressor compressor,
      Consumer<R> onResponse,
      R ok,
      Consumer<Throwable> onError) {
    Counting counting = new Counting();
    try (OutputStream out = compressor == null ? counting : compressor.compress(counting)) {
      message.writeMessage(out);
    } catch (IOException | RuntimeException e) {
      onError.accept(e);
      return;
    }
    bytes.addAndGet(counting.count);
    onResponse.accept(ok);
  }

  /** Counts what is written to it and keeps none of it. */
  private static final class Counting extends OutputStream {
    long count;

    @Override
    public void write(int b) {
      count++;
    }

    @Override
    public void write(byte[] b, int off, int len) {
      count += len;
    }
  }

  private static final HttpResponse HTTP_OK =
      new HttpResponse() {
        @Override
        public int getStatusCode() {
          return 200;
        }

        @Override
        public String getStatusMessage() {
          return "OK";
        }

        @Override
        public byte[] getResponseBody() {
          return NO_BYTES;
        }
      };

  private static final GrpcResponse GRPC_OK =
      new GrpcResponse() {
        @Override
        public GrpcStatusCode getStatusCode() {
          return GrpcStatusCode.OK;
        }

        @Override
        public String getStatusDescription() {
          return "";
        }

        @Override
        public byte[] getResponseMessage() {
          return NO_BYTES;
        }
      };
}
