package dev.wirespan.testing;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import java.util.Base64;
import java.util.HexFormat;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses OTLP/JSON (as written by the Collector's file exporter and the agent's jsonl output)
 * into protobuf messages. OTLP/JSON differs from protobuf's canonical JSON in one point that
 * matters here: trace and span ids are hex, not base64; they are converted before parsing.
 */
public final class OtlpJson {
  private static final Pattern ID_FIELD =
      Pattern.compile("\"(traceId|spanId|parentSpanId)\"\\s*:\\s*\"([0-9a-fA-F]*)\"");

  private OtlpJson() {}

  /** One line of a jsonl file: an {@code ExportTraceServiceRequest}. */
  public static ExportTraceServiceRequest parseTraceRequest(String json)
      throws InvalidProtocolBufferException {
    Matcher m = ID_FIELD.matcher(json);
    StringBuilder converted = new StringBuilder(json.length());
    while (m.find()) {
      String base64 = Base64.getEncoder().encodeToString(HexFormat.of().parseHex(m.group(2)));
      m.appendReplacement(converted, "\"" + m.group(1) + "\":\"" + base64 + "\"");
    }
    m.appendTail(converted);
    ExportTraceServiceRequest.Builder builder = ExportTraceServiceRequest.newBuilder();
    JsonFormat.parser().merge(converted.toString(), builder);
    return builder.build();
  }
}
