package dev.wirespan.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.List;
import javax.annotation.Nullable;

/**
 * One direction's Netty HTTP/1.x decoder in an {@link EmbeddedChannel}, plus what the stream needs
 * to know that Netty keeps private: whether the decoder is inside a message, and how many bytes
 * it holds. Instances are pooled by {@link DecoderPool} and lent to a connection only while it is
 * inside a message, so an idle keep-alive connection holds none.
 */
final class MessageDecoder {
  /** Tells a response decoder which request a response answers. */
  interface AnsweredRequest {
    /**
     * Method of the request answered by the final response that comes {@code ahead} final
     * responses after the next one the stream will handle (the decoder runs ahead of the stream
     * when one write holds several responses), or null when unknown.
     */
    @Nullable
    String method(int ahead);
  }

  private final EmbeddedChannel channel;
  private final Boundary boundary;
  @Nullable private final ResponseDecoder responseDecoder;

  private MessageDecoder(boolean requests, HttpDecoderConfig config, ByteBufAllocator alloc) {
    boundary = new Boundary();
    if (requests) {
      responseDecoder = null;
      channel = new EmbeddedChannel(new RequestDecoder(config, boundary));
    } else {
      responseDecoder = new ResponseDecoder(config, boundary);
      channel = new EmbeddedChannel(responseDecoder);
    }
    // Cumulation buffers come from the tracker's allocator (tests count them for leaks).
    channel.config().setAllocator(alloc);
  }

  static MessageDecoder forRequests(HttpDecoderConfig config, ByteBufAllocator alloc) {
    return new MessageDecoder(true, config, alloc);
  }

  static MessageDecoder forResponses(HttpDecoderConfig config, ByteBufAllocator alloc) {
    return new MessageDecoder(false, config, alloc);
  }

  boolean decodesRequests() {
    return responseDecoder == null;
  }

  void answering(@Nullable AnsweredRequest answered) {
    if (responseDecoder != null) {
      responseDecoder.answered = answered;
      responseDecoder.finalResponsesAhead = 0;
    }
  }

  /** The stream handled a final response the decoder had decoded. */
  void finalResponseHandled() {
    if (responseDecoder != null && responseDecoder.finalResponsesAhead > 0) {
      responseDecoder.finalResponsesAhead--;
    }
  }

  /** Hands {@code bytes} (ownership included) to the decoder; read the results with {@link #poll}. */
  void write(ByteBuf bytes) {
    channel.writeInbound(bytes);
  }

  /** The next decoded object (HttpMessage, HttpContent), or null. The caller releases it. */
  @Nullable
  Object poll() {
    return channel.readInbound();
  }

  /** Signals the end of the stream: a read-until-close body ends here. Results via {@link #poll}. */
  void finish() {
    channel.finish();
  }

  /** True between the first byte of a message and the end of its body. */
  boolean inMessage() {
    return boundary.midMessage || bufferedBytes() > 0;
  }

  /** Bytes of the current message the decoder holds: a partial line, header lines parsed. */
  int bufferedBytes() {
    return boundary.buffered;
  }

  /** Whether the decoder is fit to be lent again: between messages, not switched protocols. */
  boolean reusable() {
    return !inMessage() && (responseDecoder == null || !responseDecoder.switched);
  }

  /** Closes the channel, releasing everything it holds (including undelivered results). */
  void discard() {
    channel.finishAndReleaseAll();
  }

  /** Message-boundary bookkeeping shared by both decoder kinds. */
  private static final class Boundary {
    boolean midMessage;
    /** Unconsumed bytes plus {@link #held}. */
    int buffered;
    /**
     * Bytes the decoder consumed since it last produced an object: the request or status line
     * and header lines it keeps in the message it is building (Netty parses a header block line
     * by line), a chunk-size line, trailer lines. They cost memory as surely as unconsumed bytes.
     */
    int held;

    void afterDecode(ByteBuf in, int readerBefore, List<Object> out, int outBefore) {
      int n = out.size();
      if (n > outBefore) {
        // HttpObjectDecoder returns right after the message's last content: bytes it consumed
        // in this call all belong to the message that just ended.
        midMessage = !(out.get(n - 1) instanceof LastHttpContent);
        held = 0;
      } else {
        if (!midMessage) {
          // Control characters and whitespace between messages are skipped, not a message start.
          for (int i = readerBefore; i < in.readerIndex(); i++) {
            if (in.getByte(i) > ' ') {
              midMessage = true;
              break;
            }
          }
        }
        if (midMessage) {
          held += in.readerIndex() - readerBefore;
        }
      }
      buffered = in.readableBytes() + held;
    }

    void reset() {
      buffered = 0;
      held = 0;
    }
  }

  private static final class RequestDecoder extends HttpRequestDecoder {
    private final Boundary boundary;

    RequestDecoder(HttpDecoderConfig config, Boundary boundary) {
      super(config);
      this.boundary = boundary;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out)
        throws Exception {
      int readerBefore = in.readerIndex();
      int outBefore = out.size();
      super.decode(ctx, in, out);
      boundary.afterDecode(in, readerBefore, out, outBefore);
    }

    @Override
    protected void handlerRemoved0(ChannelHandlerContext ctx) throws Exception {
      boundary.reset();
      super.handlerRemoved0(ctx);
    }
  }

  /**
   * A response decoder that knows which request each response answers, as HttpClientCodec does:
   * a response to HEAD has no body whatever its Content-Length, nor has a 2xx answer to CONNECT.
   */
  private static final class ResponseDecoder extends HttpResponseDecoder {
    private final Boundary boundary;
    @Nullable AnsweredRequest answered;
    /** Final responses decoded but not yet handled by the stream. */
    int finalResponsesAhead;
    boolean switched;

    ResponseDecoder(HttpDecoderConfig config, Boundary boundary) {
      super(config);
      this.boundary = boundary;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out)
        throws Exception {
      int readerBefore = in.readerIndex();
      int outBefore = out.size();
      super.decode(ctx, in, out);
      boundary.afterDecode(in, readerBefore, out, outBefore);
    }

    @Override
    protected void handlerRemoved0(ChannelHandlerContext ctx) throws Exception {
      boundary.reset();
      super.handlerRemoved0(ctx);
    }

    @Override
    protected boolean isContentAlwaysEmpty(HttpMessage msg) {
      if (msg instanceof HttpResponse response) {
        int code = response.status().code();
        if (isSwitchingToNonHttp1Protocol(response)) {
          switched = true;
        }
        if (code >= 200 || code == HttpResponseStatus.SWITCHING_PROTOCOLS.code()) {
          String method = answered == null ? null : answered.method(finalResponsesAhead);
          finalResponsesAhead++;
          if ("HEAD".equals(method)) {
            return true;
          }
          if ("CONNECT".equals(method) && code < 300) {
            switched = true;
            return true;
          }
        }
      }
      return super.isContentAlwaysEmpty(msg);
    }
  }
}
