package dev.wirespan.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.List;
import javax.annotation.Nullable;

/**
 * One direction's Netty HTTP/1.x decoder, plus what the stream needs to know that Netty keeps
 * private: whether the decoder is inside a message, and how many bytes it holds. Instances are
 * pooled by {@link DecoderPool} and lent to a connection only while it is inside a message, so an
 * idle keep-alive connection holds none.
 *
 * <p>The decoder sits in an {@link EmbeddedChannel}, which gives it the context and life cycle of
 * a channel handler (closing the channel runs its {@code decodeLast} and releases what it holds),
 * but bytes do not travel through the channel: {@link #write} cumulates them with Netty's {@link
 * ByteToMessageDecoder#MERGE_CUMULATOR} and calls the decoder's {@code decode} in the loop {@code
 * ByteToMessageDecoder.callDecode} runs, collecting results in a list. The pipeline's per-write
 * machinery (event-loop task checks reading the clock twice, the inbound queue, handler context
 * hops) cost about a tenth of the capture thread, for nothing a lone decoder needs.
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

  /** Expected results per write: a message, its content, the next message, its content. */
  private static final int RESULTS_CAPACITY = 4;

  private final EmbeddedChannel channel;
  private final ChannelHandlerContext context;
  private final Decoder decoder;
  private final ByteBufAllocator alloc;
  private final Boundary boundary;
  @Nullable private final ResponseDecoder responseDecoder;
  /** Bytes written and not yet consumed by the decoder, or null when there are none. */
  @Nullable private ByteBuf cumulation;
  /** Decoded objects not yet polled: {@code results[next..]}. */
  private final ArrayList<Object> results = new ArrayList<>(RESULTS_CAPACITY);
  private int next;

  private MessageDecoder(boolean requests, HttpDecoderConfig config, ByteBufAllocator alloc) {
    this.alloc = alloc;
    boundary = new Boundary();
    if (requests) {
      responseDecoder = null;
      RequestDecoder d = new RequestDecoder(config, boundary);
      decoder = d;
      channel = new EmbeddedChannel(d);
      context = channel.pipeline().context(d);
    } else {
      responseDecoder = new ResponseDecoder(config, boundary);
      decoder = responseDecoder;
      channel = new EmbeddedChannel(responseDecoder);
      context = channel.pipeline().context(responseDecoder);
    }
    // Buffers the channel's own close path makes come from the tracker's allocator (tests count
    // them for leaks), as do the cumulation buffers here.
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

  /**
   * Hands {@code bytes} (ownership included) to the decoder; read the results with {@link #poll}.
   *
   * @throws DecoderException when the decoder throws instead of reporting a failed result (the
   *     decoder must then be discarded)
   */
  void write(ByteBuf bytes) {
    // With nothing cumulated the bytes themselves are decoded (as ByteToMessageDecoder does):
    // then they are not compacted afterwards, they may be read-only (the placeholder zeros).
    boolean first = cumulation == null;
    ByteBuf in = ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(
        alloc, first ? Unpooled.EMPTY_BUFFER : cumulation, bytes);
    cumulation = in;
    try {
      decodeAll(in);
    } finally {
      trimCumulation(first);
    }
  }

  /** ByteToMessageDecoder.callDecode's loop, with the results kept for {@link #poll}. */
  private void decodeAll(ByteBuf in) {
    while (in.isReadable()) {
      int resultsBefore = results.size();
      int readableBefore = in.readableBytes();
      try {
        decoder.decode(context, in, results);
      } catch (DecoderException e) {
        throw e;
      } catch (Exception e) {
        throw new DecoderException(e);
      }
      if (results.size() == resultsBefore) {
        if (readableBefore == in.readableBytes()) {
          break; // waits for more bytes
        }
      } else if (readableBefore == in.readableBytes()) {
        throw new DecoderException("the HTTP decoder decoded a message without reading a byte");
      }
    }
  }

  private void trimCumulation(boolean first) {
    ByteBuf in = cumulation;
    if (in == null) {
      return;
    }
    if (!in.isReadable()) {
      cumulation = null;
      in.release();
    } else if (!first && in.refCnt() == 1 && !in.isReadOnly()) {
      // Not while decoded content still shares the buffer (as ByteToMessageDecoder does).
      in.discardSomeReadBytes();
    }
  }

  /** The next decoded object (HttpMessage, HttpContent), or null. The caller releases it. */
  @Nullable
  Object poll() {
    if (next >= results.size()) {
      return null;
    }
    Object o = results.set(next++, null);
    if (next == results.size()) {
      results.clear();
      next = 0;
    }
    return o;
  }

  /** Signals the end of the stream: a read-until-close body ends here. Results via {@link #poll}. */
  void finish() {
    ByteBuf in = cumulation;
    try {
      if (in != null) {
        decodeAll(in);
      }
      decoder.decodeLast(context, in == null ? Unpooled.EMPTY_BUFFER : in, results);
    } catch (DecoderException e) {
      throw e;
    } catch (Exception e) {
      throw new DecoderException(e);
    } finally {
      if (cumulation != null) {
        cumulation.release();
        cumulation = null;
      }
    }
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

  /** Releases everything the decoder holds, undelivered results included, and closes it. */
  void discard() {
    for (int i = next; i < results.size(); i++) {
      ReferenceCountUtil.release(results.get(i));
    }
    results.clear();
    next = 0;
    if (cumulation != null) {
      cumulation.release();
      cumulation = null;
    }
    channel.finishAndReleaseAll();
  }

  /** The decoder's entry points (protected in Netty, public here), called without the channel. */
  private interface Decoder {
    void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception;

    void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception;
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

  private static final class RequestDecoder extends HttpRequestDecoder implements Decoder {
    private final Boundary boundary;

    RequestDecoder(HttpDecoderConfig config, Boundary boundary) {
      super(config);
      this.boundary = boundary;
    }

    @Override
    public void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
      int readerBefore = in.readerIndex();
      int outBefore = out.size();
      super.decode(ctx, in, out);
      boundary.afterDecode(in, readerBefore, out, outBefore);
    }

    @Override
    public void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out)
        throws Exception {
      super.decodeLast(ctx, in, out);
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
  private static final class ResponseDecoder extends HttpResponseDecoder implements Decoder {
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
    public void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
      int readerBefore = in.readerIndex();
      int outBefore = out.size();
      super.decode(ctx, in, out);
      boundary.afterDecode(in, readerBefore, out, outBefore);
    }

    @Override
    public void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out)
        throws Exception {
      super.decodeLast(ctx, in, out);
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
