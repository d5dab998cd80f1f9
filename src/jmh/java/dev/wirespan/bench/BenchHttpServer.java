package dev.wirespan.bench;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The JVM web server of the load run: Netty's HTTP/1.1 codec on one event-loop thread (as nginx
 * runs one worker), keep-alive, answering every request with 200 and a body whose size is the
 * last path segment ({@code /bytes/4096}), or {@value #DEFAULT_BODY_BYTES} bytes. Loopback only.
 *
 * <p>It also plays the OTLP/HTTP receiver of the agent under test: a POST to {@value
 * #OTLP_TRACES_PATH} gets 200 with an empty protobuf body (an empty ExportTraceServiceResponse:
 * everything accepted), the spans being discarded unparsed. Given a GRPC_PORT, it is an OTLP/gRPC
 * receiver there as well ({@link GrpcSink}: cleartext HTTP/2, every call answered with an empty
 * response and status OK, the request discarded unparsed).
 *
 * <p>Usage: {@code BenchHttpServer PORT [MAX_SECONDS [GRPC_PORT]]}; stops by itself after
 * MAX_SECONDS (default {@value #DEFAULT_MAX_SECONDS}) so that a forgotten server does not live on.
 */
public final class BenchHttpServer {
  static final int DEFAULT_BODY_BYTES = 128;
  static final String OTLP_TRACES_PATH = "/v1/traces";
  private static final String PROTOBUF_CONTENT_TYPE = "application/x-protobuf";
  static final int MAX_BODY_BYTES = 1 << 20;
  static final long DEFAULT_MAX_SECONDS = 3600;
  private static final int EVENT_LOOP_THREADS = 1;
  private static final int BACKLOG = 4096;

  private static final ConcurrentHashMap<Integer, ByteBuf> BODIES = new ConcurrentHashMap<>();

  private BenchHttpServer() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: BenchHttpServer PORT [MAX_SECONDS [GRPC_PORT]]");
      System.exit(2);
    }
    int port = Integer.parseInt(args[0]);
    long maxSeconds = args.length > 1 ? Long.parseLong(args[1]) : DEFAULT_MAX_SECONDS;
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(EVENT_LOOP_THREADS, NioIoHandler.newFactory());
    try {
      if (args.length > 2) { // bound first: answering on PORT tells callers that both are up
        int grpcPort = Integer.parseInt(args[2]);
        GrpcSink.bind(group, grpcPort);
        System.out.println("OTLP/gRPC sink on 127.0.0.1:" + grpcPort);
      }
      Channel server =
          new ServerBootstrap()
              .group(group)
              .channel(NioServerSocketChannel.class)
              .option(ChannelOption.SO_BACKLOG, BACKLOG)
              .childOption(ChannelOption.TCP_NODELAY, true)
              .childHandler(
                  new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                      ch.pipeline().addLast(new HttpServerCodec(), new FixedBodyHandler());
                    }
                  })
              .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))
              .sync()
              .channel();
      System.out.println("listening on 127.0.0.1:" + port);
      if (!server.closeFuture().await(maxSeconds, TimeUnit.SECONDS)) {
        server.close().sync();
      }
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
  }

  static int bodyBytes(String uri) {
    int end = uri.indexOf('?') >= 0 ? uri.indexOf('?') : uri.length();
    int start = uri.lastIndexOf('/', end - 1) + 1;
    try {
      return Math.min(MAX_BODY_BYTES, Math.max(0, Integer.parseInt(uri.substring(start, end))));
    } catch (NumberFormatException e) {
      return DEFAULT_BODY_BYTES;
    }
  }

  private static ByteBuf body(int bytes) {
    return BODIES.computeIfAbsent(
        bytes,
        n -> {
          byte[] b = new byte[n];
          Arrays.fill(b, (byte) 'x');
          return Unpooled.unreleasableBuffer(Unpooled.directBuffer(n).writeBytes(b));
        });
  }

  /** Answers each request once its last content arrives; flushes once per read burst. */
  private static final class FixedBodyHandler extends SimpleChannelInboundHandler<HttpObject> {
    private boolean keepAlive = true;
    private int pendingBodyBytes = DEFAULT_BODY_BYTES;
    private boolean otlp;

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
      if (msg instanceof HttpRequest request) {
        keepAlive = HttpUtil.isKeepAlive(request);
        otlp = request.uri().endsWith(OTLP_TRACES_PATH);
        pendingBodyBytes = otlp ? 0 : bodyBytes(request.uri());
      }
      if (msg instanceof LastHttpContent) {
        ByteBuf content = body(pendingBodyBytes).duplicate();
        FullHttpResponse response =
            new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, content);
        response.headers()
            .set(
                HttpHeaderNames.CONTENT_TYPE,
                otlp ? PROTOBUF_CONTENT_TYPE : HttpHeaderValues.APPLICATION_OCTET_STREAM)
            .setInt(HttpHeaderNames.CONTENT_LENGTH, content.readableBytes());
        if (keepAlive) {
          ctx.write(response);
        } else {
          ctx.writeAndFlush(response).addListener(f -> ctx.close());
        }
      }
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
}
