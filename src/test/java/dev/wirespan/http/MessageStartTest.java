package dev.wirespan.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.capture.CaptureEventWriter;
import dev.wirespan.http.MessageStart.Match;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
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

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "HTTP/1|.1 200 OK|MATCH",
    "H|TTP/1.1 2|PREFIX",
    "HTTP/1.1 2|xx|MISMATCH",
    "GET /x|'\tHTTP/1.1'|MISMATCH",
    "GET /x H|TTP/1.1|MATCH",
    "GE|T / HT|PREFIX",
  })
  void gatheredBytesAreFollowedByTheEventsPayload(String gathered, String payload, String both) {
    Match expected = Match.valueOf(both);
    ByteBuf head = Unpooled.copiedBuffer(gathered, StandardCharsets.ISO_8859_1);
    CaptureEvent e = event(payload);
    MessageStart.Bytes bytes = new MessageStart.Bytes().set(head, e, 0, e.captured());
    // gathered bytes starting with 'H' are tested as a status line, the others as a request line
    Match actual =
        gathered.charAt(0) == 'H'
            ? MessageStart.response(bytes)
            : MessageStart.request(bytes, MAX_TARGET_BYTES);
    assertThat(actual).isEqualTo(expected);
    // the same bytes in one payload compare the same
    CaptureEvent whole = event(gathered + payload);
    Match inOne =
        gathered.charAt(0) == 'H'
            ? MessageStart.response(whole, whole.captured())
            : MessageStart.request(whole, whole.captured(), MAX_TARGET_BYTES);
    assertThat(inOne).isEqualTo(expected);
    head.release();
  }

  @Test
  void eventBytesCanBeTestedFromAnOffset() {
    CaptureEvent e = event("xxHTTP/1.1 200 OK");
    assertThat(MessageStart.response(new MessageStart.Bytes().set(null, e, 2, e.captured())))
        .isEqualTo(Match.MATCH);
    assertThat(MessageStart.response(new MessageStart.Bytes().set(null, e, 1, e.captured())))
        .isEqualTo(Match.MISMATCH);
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "G|true",
    "PO|true",
    "GET|true",
    "GET /|true",
    "DELETE /a HTTP/1.1|true",
    "GETX|false",
    "GET/|false",
    "BODY-SECRETq|false",
    "M-SEARCH * HTTP/1.1|false",
    "get /|false",
  })
  void knownMethodsAndTheirFirstBytes(String payload, boolean expected) {
    CaptureEvent e = event(payload);
    assertThat(MessageStart.knownMethodOrPrefix(new MessageStart.Bytes().set(null, e, 0, e.captured())))
        .isEqualTo(expected);
  }
}
