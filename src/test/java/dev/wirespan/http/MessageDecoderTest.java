package dev.wirespan.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The decoder driven directly: cumulation across writes, results, finish and discard. */
class MessageDecoderTest {
  private final MessageDecoder decoder =
      MessageDecoder.forResponses(
          new HttpDecoderConfig().setHeadersFactory(NeededHeaders.FACTORY),
          UnpooledByteBufAllocator.DEFAULT);
  private final List<ByteBuf> written = new ArrayList<>();

  @AfterEach
  void discardAndCheckReleased() {
    decoder.discard();
    for (ByteBuf b : written) {
      assertThat(b.refCnt()).as("a written buffer was not released").isZero();
    }
  }

  private void write(String text) {
    ByteBuf b = Unpooled.copiedBuffer(text, StandardCharsets.ISO_8859_1);
    written.add(b);
    decoder.write(b);
  }

  private List<Object> pollAll() {
    List<Object> out = new ArrayList<>();
    Object o;
    while ((o = decoder.poll()) != null) {
      out.add(o);
    }
    return out;
  }

  @Test
  void messageSplitAcrossWritesIsCumulatedAndDecodedOnce() {
    write("HTTP/1.1 200 OK\r\nContent-Le");
    assertThat(pollAll()).isEmpty();
    assertThat(decoder.inMessage()).isTrue();
    write("ngth: 5\r\n\r\nhel");
    write("lo");
    List<Object> out = pollAll();
    try {
      assertThat(out.get(0)).isInstanceOf(HttpResponse.class);
      assertThat(out.get(out.size() - 1)).isInstanceOf(LastHttpContent.class);
      int body = 0;
      for (Object o : out) {
        if (o instanceof HttpContent c) {
          body += c.content().readableBytes();
        }
      }
      assertThat(body).isEqualTo(5);
      assertThat(decoder.inMessage()).isFalse();
      assertThat(decoder.reusable()).isTrue();
    } finally {
      out.forEach(ReferenceCountUtil::release);
    }
  }

  @Test
  void twoResponsesInOneWriteComeOutInOrder() {
    write("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
    List<Object> out = pollAll();
    try {
      assertThat(out).filteredOn(o -> o instanceof HttpResponse).hasSize(2);
      assertThat(((HttpResponse) out.get(0)).status().code()).isEqualTo(204);
    } finally {
      out.forEach(ReferenceCountUtil::release);
    }
  }

  @Test
  void readOnlyPlaceholderBytesLeftOverAreNotCompacted() {
    // Zeros standing in for an uncopied chunk (read-only, unreleasable, as the tracker's
    // placeholders): 10 bytes of chunk data and one byte where the CR of the delimiter is.
    write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n");
    pollAll().forEach(ReferenceCountUtil::release);
    ByteBuf zeros =
        Unpooled.unreleasableBuffer(Unpooled.wrappedBuffer(new byte[64]).asReadOnly()).slice(0, 11);
    assertThatCode(() -> decoder.write(zeros)).doesNotThrowAnyException();
    List<Object> out = pollAll();
    try {
      assertThat(out).hasSize(1);
      assertThat(((HttpContent) out.get(0)).content().readableBytes()).isEqualTo(10);
      assertThat(decoder.bufferedBytes()).isEqualTo(1);
    } finally {
      out.forEach(ReferenceCountUtil::release);
    }
    // The zero where CR belongs fails the chunk once the next bytes come.
    write("\n0\r\n\r\n");
    out = pollAll();
    try {
      assertThat(out).anySatisfy(o -> assertThat(((HttpObject) o).decoderResult().isFailure()).isTrue());
    } finally {
      out.forEach(ReferenceCountUtil::release);
    }
  }

  @Test
  void finishEndsAReadUntilCloseBody() {
    write("HTTP/1.0 200 OK\r\n\r\nbody until close");
    pollAll().forEach(ReferenceCountUtil::release);
    decoder.finish();
    List<Object> out = pollAll();
    try {
      assertThat(out).last().isInstanceOf(LastHttpContent.class);
    } finally {
      out.forEach(ReferenceCountUtil::release);
    }
  }

  @Test
  void discardReleasesResultsNobodyPolled() {
    write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab");
    // Nothing polled: discard (in the AfterEach) must release the response and the partial body.
  }
}
