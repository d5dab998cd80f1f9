package dev.wirespan.bench;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2FrameStream;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.util.ReferenceCountUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * The OTLP/gRPC receiver of the load run: cleartext HTTP/2 with prior knowledge (as the agent's
 * exporter speaks it), on the caller's event loop. Every call, whatever its method, is answered
 * once its request has ended: headers (200, {@code application/grpc}), one empty length-prefixed
 * message (an empty ExportTraceServiceResponse: everything accepted) and trailers with {@code
 * grpc-status: 0}. Request bytes are discarded unparsed and their flow-control credit returned at
 * once, so the exporter is never held back by the receiver.
 */
final class GrpcSink extends ChannelInboundHandlerAdapter {
  /** Compressed-flag byte and 4-byte length of an empty message. */
  private static final byte[] EMPTY_MESSAGE = new byte[5];

  private GrpcSink() {}

  static void bind(EventLoopGroup group, int port) throws InterruptedException {
    new ServerBootstrap()
        .group(group)
        .channel(NioServerSocketChannel.class)
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childHandler(
            new ChannelInitializer<SocketChannel>() {
              @Override
              protected void initChannel(SocketChannel ch) {
                ch.pipeline().addLast(Http2FrameCodecBuilder.forServer().build(), new GrpcSink());
              }
            })
        .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))
        .sync();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof Http2DataFrame data) {
      Http2FrameStream stream = data.stream();
      int credit = data.initialFlowControlledBytes();
      boolean end = data.isEndStream();
      data.release();
      if (credit > 0) {
        ctx.write(new DefaultHttp2WindowUpdateFrame(credit).stream(stream));
      }
      if (end) {
        answer(ctx, stream);
      }
    } else if (msg instanceof Http2HeadersFrame headers) {
      if (headers.isEndStream()) {
        answer(ctx, headers.stream());
      }
    } else {
      ReferenceCountUtil.release(msg);
    }
  }

  private static void answer(ChannelHandlerContext ctx, Http2FrameStream stream) {
    ctx.write(
        new DefaultHttp2HeadersFrame(
                new DefaultHttp2Headers().status("200").set("content-type", "application/grpc"))
            .stream(stream));
    ctx.write(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(EMPTY_MESSAGE)).stream(stream));
    ctx.write(
        new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().set("grpc-status", "0"), true)
            .stream(stream));
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    ctx.flush();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }
}
