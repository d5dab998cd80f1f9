package dev.wirespan.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.capture.CaptureEventWriter;
import dev.wirespan.http.MessageStart.Match;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MessageStartTest {
  private static final int MAX_TARGET_BYTES = 64;

  private static CaptureEvent event(String payload) {
    byte[] b = payload.getBytes(StandardCharsets.ISO_8859_1);
    return new CaptureEvent().wrap(new CaptureEventWriter().write(b), 0);
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "GET / HTTP/1.1|MATCH",
    "M-SEARCH * HTTP/1.1|MATCH",
    "POST /a?b=c HTTP/1.0|MATCH",
    "G|PREFIX",
    "GET /x HT|PREFIX",
    "GET /x|PREFIX",
    "GET  / HTTP/1.1|MISMATCH",
    "GET / HTTP/2.0|MISMATCH",
    "HTTP/1.1 200 OK|MISMATCH",
    "hello world|PREFIX",
    "SSH-2.0-OpenSSH_9.2 Debian-2 ready|MISMATCH",
    "220 smtp ESMTP ready|MISMATCH",
  })
  void requestLines(String payload, Match expected) {
    CaptureEvent e = event(payload);
    assertThat(MessageStart.request(e, e.captured(), MAX_TARGET_BYTES)).isEqualTo(expected);
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "HTTP/1.1 200 OK|MATCH",
    "HTTP/1.0 404|MATCH",
    "HTTP/1.1 20|PREFIX",
    "HTT|PREFIX",
    "HTTP/2 200|MISMATCH",
    "HTTP/1.1 2x0|MISMATCH",
    "GET / HTTP/1.1|MISMATCH",
  })
  void statusLines(String payload, Match expected) {
    CaptureEvent e = event(payload);
    assertThat(MessageStart.response(e, e.captured())).isEqualTo(expected);
  }

  @Test
  void targetsLongerThanTheInitialLineLimitDoNotMatch() {
    CaptureEvent e = event("GET /" + "x".repeat(MAX_TARGET_BYTES) + " HTTP/1.1");
    assertThat(MessageStart.request(e, e.captured(), MAX_TARGET_BYTES)).isEqualTo(Match.MISMATCH);
  }
}
