package dev.wirespan.http;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.codec.http.HttpDecoderConfig;
import java.util.ArrayDeque;

/**
 * Decoders waiting to be lent to a connection that starts a message. Creating an EmbeddedChannel
 * per message would cost several objects per request; holding one per connection would cost
 * memory on every idle keep-alive connection. A small pool gives neither.
 */
final class DecoderPool {
  /** Idle decoders kept per kind; more than the messages in flight at once is useless. */
  static final int MAX_IDLE_DECODERS_PER_KIND = 64;
  /**
   * Largest content piece the decoder hands out at once: matches the placeholder slices fed for
   * bytes that were not copied, so a large uncopied body costs few objects.
   */
  static final int MAX_CHUNK_BYTES = 256 * 1024;

  private final HttpDecoderConfig config;
  private final ByteBufAllocator alloc;
  private final ArrayDeque<MessageDecoder> idleRequestDecoders = new ArrayDeque<>();
  private final ArrayDeque<MessageDecoder> idleResponseDecoders = new ArrayDeque<>();
  private int lent;

  DecoderPool(HttpSettings settings, ByteBufAllocator alloc) {
    this.alloc = alloc;
    this.config =
        new HttpDecoderConfig()
            .setMaxInitialLineLength(settings.maxInitialLineBytes())
            .setMaxHeaderSize(settings.maxHeaderBytes())
            .setMaxChunkSize(MAX_CHUNK_BYTES)
            .setHeadersFactory(NeededHeaders.FACTORY);
  }

  MessageDecoder lendRequestDecoder() {
    lent++;
    MessageDecoder d = idleRequestDecoders.pollLast();
    return d != null ? d : MessageDecoder.forRequests(config, alloc);
  }

  MessageDecoder lendResponseDecoder() {
    lent++;
    MessageDecoder d = idleResponseDecoders.pollLast();
    return d != null ? d : MessageDecoder.forResponses(config, alloc);
  }

  /** Takes a decoder back: pooled when it is between messages, discarded otherwise. */
  void giveBack(MessageDecoder d) {
    lent--;
    d.answering(null);
    ArrayDeque<MessageDecoder> idle =
        d.decodesRequests() ? idleRequestDecoders : idleResponseDecoders;
    if (d.reusable() && idle.size() < MAX_IDLE_DECODERS_PER_KIND) {
      idle.addLast(d);
    } else {
      d.discard();
    }
  }

  /** Takes back a decoder that lost its message boundary: it is closed, never lent again. */
  void drop(MessageDecoder d) {
    lent--;
    d.discard();
  }

  /** Decoders currently lent to connections. */
  int lent() {
    return lent;
  }

  void close() {
    for (MessageDecoder d : idleRequestDecoders) {
      d.discard();
    }
    for (MessageDecoder d : idleResponseDecoders) {
      d.discard();
    }
    idleRequestDecoders.clear();
    idleResponseDecoders.clear();
  }
}
