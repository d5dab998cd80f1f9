package dev.wirespan.span;

import static dev.wirespan.testing.TestExchanges.connection;
import static dev.wirespan.testing.TestExchanges.request;
import static dev.wirespan.testing.TestExchanges.respond;
import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.http.ConnectionInfo;
import dev.wirespan.http.HttpExchange;
import dev.wirespan.http.HttpExchange.Side;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.semconv.ClientAttributes;
import io.opentelemetry.semconv.ErrorAttributes;
import io.opentelemetry.semconv.HttpAttributes;
import io.opentelemetry.semconv.NetworkAttributes;
import io.opentelemetry.semconv.ServerAttributes;
import io.opentelemetry.semconv.UrlAttributes;
import io.opentelemetry.semconv.UserAgentAttributes;
import io.opentelemetry.semconv.incubating.HttpIncubatingAttributes;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SpanFactoryTest {
  private static final long EPOCH_OFFSET_NANOS = 1_700_000_000_000_000_000L;
  private static final Resource RESOURCE = Resource.builder().put("service.name", "shop").build();

  private final AtomicLong monotonic = new AtomicLong(5_000_000_000L);
  private final MonotonicClock clock =
      new MonotonicClock(
          () -> monotonic.get() + EPOCH_OFFSET_NANOS, monotonic::get, Duration.ofSeconds(10));
  private final SpanFactory factory = new SpanFactory(c -> RESOURCE, PeerResolver.NONE, clock);

  private final ConnectionInfo serverConnection = connection(100, "127.0.0.1", 8080, "127.0.0.2", 53422);

  private HttpExchange serverExchange(String method, String target, int status) {
    return respond(request(serverConnection, Side.SERVER, method, target, 7, 1_000_000), status,
        13_300_000);
  }

  @Test
  void serverSpanHasStableHttpAttributesTimesAndResource() {
    HttpExchange exchange =
        serverExchange("GET", "/users/42?expand=1", 200)
            .setHost("shop.example:8080")
            .setUserAgent("curl/8.0")
            .setResponseBodySize(512);
    SpanData span = factory.toSpan(exchange);

    assertThat(span.getKind()).isEqualTo(SpanKind.SERVER);
    assertThat(span.getName()).isEqualTo("GET /users/{id}");
    assertThat(span.getResource()).isSameAs(RESOURCE);
    assertThat(span.getStartEpochNanos()).isEqualTo(1_000_000 + EPOCH_OFFSET_NANOS);
    assertThat(span.getEndEpochNanos() - span.getStartEpochNanos()).isEqualTo(12_300_000);
    assertThat(span.getStatus().getStatusCode()).isEqualTo(StatusCode.UNSET);
    Attributes a = span.getAttributes();
    assertThat(a.get(HttpAttributes.HTTP_REQUEST_METHOD)).isEqualTo("GET");
    assertThat(a.get(HttpAttributes.HTTP_RESPONSE_STATUS_CODE)).isEqualTo(200L);
    assertThat(a.get(UrlAttributes.URL_SCHEME)).isEqualTo("http");
    assertThat(a.get(UrlAttributes.URL_PATH)).isEqualTo("/users/42");
    assertThat(a.get(UrlAttributes.URL_QUERY)).isEqualTo("expand=1");
    assertThat(a.get(UrlAttributes.URL_FULL)).isNull();
    assertThat(a.get(ServerAttributes.SERVER_ADDRESS)).isEqualTo("shop.example");
    assertThat(a.get(ServerAttributes.SERVER_PORT)).isEqualTo(8080L);
    assertThat(a.get(ClientAttributes.CLIENT_ADDRESS)).isEqualTo("127.0.0.2");
    assertThat(a.get(ClientAttributes.CLIENT_PORT)).as("opt-in; network.peer.port has it").isNull();
    assertThat(a.get(NetworkAttributes.NETWORK_PEER_ADDRESS)).isEqualTo("127.0.0.2");
    assertThat(a.get(NetworkAttributes.NETWORK_PEER_PORT)).isEqualTo(53422L);
    // Conditionally required only when not http.
    assertThat(a.get(NetworkAttributes.NETWORK_PROTOCOL_NAME)).isNull();
    assertThat(a.get(NetworkAttributes.NETWORK_PROTOCOL_VERSION)).isEqualTo("1.1");
    assertThat(a.get(UserAgentAttributes.USER_AGENT_ORIGINAL)).isEqualTo("curl/8.0");
    assertThat(a.get(HttpIncubatingAttributes.HTTP_RESPONSE_BODY_SIZE)).isEqualTo(512L);
    assertThat(a.get(HttpIncubatingAttributes.HTTP_REQUEST_BODY_SIZE)).isNull();
    assertThat(a.get(AttributeKey.stringKey("http.route"))).isNull();
    assertThat(a.get(SpanFactory.CAPTURE_INCOMPLETE)).isNull();
    assertThat(a.get(SpanFactory.EXCHANGE_OUTCOME)).isNull();
  }

  @Test
  void clientSpanHasFullUrlAndServerFromConnectionWithoutHost() {
    ConnectionInfo c = connection(100, "127.0.0.1", 40000, "127.0.0.9", 9090);
    HttpExchange exchange =
        respond(request(c, Side.CLIENT, "POST", "/pay?card=1&api_key=abc", 3, 10), 201, 20)
            .setRequestBodySize(64);
    SpanData span = factory.toSpan(exchange);

    assertThat(span.getKind()).isEqualTo(SpanKind.CLIENT);
    Attributes a = span.getAttributes();
    assertThat(a.get(UrlAttributes.URL_FULL))
        .isEqualTo("http://127.0.0.9:9090/pay?card=1&api_key=REDACTED");
    assertThat(a.get(UrlAttributes.URL_PATH)).isNull();
    assertThat(a.get(ServerAttributes.SERVER_ADDRESS)).isEqualTo("127.0.0.9");
    assertThat(a.get(ServerAttributes.SERVER_PORT)).isEqualTo(9090L);
    assertThat(a.get(ClientAttributes.CLIENT_ADDRESS)).isNull();
    assertThat(a.get(NetworkAttributes.NETWORK_PEER_ADDRESS)).isEqualTo("127.0.0.9");
    assertThat(a.get(HttpIncubatingAttributes.HTTP_REQUEST_BODY_SIZE)).isEqualTo(64L);
  }

  @Test
  void serverWithoutHostUsesItsOwnEndOfTheConnection() {
    SpanData span = factory.toSpan(serverExchange("GET", "/", 200));
    assertThat(span.getAttributes().get(ServerAttributes.SERVER_ADDRESS)).isEqualTo("127.0.0.1");
    assertThat(span.getAttributes().get(ServerAttributes.SERVER_PORT)).isEqualTo(8080L);
  }

  @ParameterizedTest(name = "{0}: {1} {2}")
  @CsvSource({
    "SERVER, 200, UNSET, ",
    "SERVER, 302, UNSET, ",
    "SERVER, 404, UNSET, ",
    "SERVER, 499, UNSET, ",
    "SERVER, 500, ERROR, 500",
    "SERVER, 503, ERROR, 503",
    "CLIENT, 200, UNSET, ",
    "CLIENT, 400, ERROR, 400",
    "CLIENT, 404, ERROR, 404",
    "CLIENT, 502, ERROR, 502",
    "SERVER, 600, ERROR, 600",
    "CLIENT, 99, ERROR, 99",
  })
  void statusFollowsTheConventionsPerKind(Side side, int status, StatusCode expected,
      String errorType) {
    HttpExchange exchange = respond(request(serverConnection, side, "GET", "/", 1, 1), status, 2);
    SpanData span = factory.toSpan(exchange);
    assertThat(span.getStatus().getStatusCode()).isEqualTo(expected);
    assertThat(span.getAttributes().get(ErrorAttributes.ERROR_TYPE)).isEqualTo(errorType);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "TIMED_OUT, ERROR, timeout, timed_out",
    "CONNECTION_CLOSED, ERROR, connection_closed, connection_closed",
    "EVICTED, UNSET, , evicted",
  })
  void incompleteOutcomeIsMarked(HttpExchange.Outcome outcome, StatusCode status, String errorType,
      String outcomeValue) {
    HttpExchange exchange =
        request(serverConnection, Side.SERVER, "GET", "/slow", 1, 1_000)
            .setResponseEndNanos(9_000)
            .setOutcome(outcome)
            .markBytesMissing();
    SpanData span = factory.toSpan(exchange);
    assertThat(span.getStatus().getStatusCode()).isEqualTo(status);
    assertThat(span.getAttributes().get(ErrorAttributes.ERROR_TYPE)).isEqualTo(errorType);
    assertThat(span.getAttributes().get(SpanFactory.EXCHANGE_OUTCOME)).isEqualTo(outcomeValue);
    assertThat(span.getAttributes().get(SpanFactory.CAPTURE_INCOMPLETE)).isTrue();
    assertThat(span.getAttributes().get(HttpAttributes.HTTP_RESPONSE_STATUS_CODE)).isNull();
    assertThat(span.getEndEpochNanos() - span.getStartEpochNanos()).isEqualTo(8_000);
  }

  @Test
  void statusErrorWinsOverOutcomeErrorType() {
    HttpExchange exchange =
        serverExchange("GET", "/", 500).setOutcome(HttpExchange.Outcome.CONNECTION_CLOSED);
    assertThat(factory.toSpan(exchange).getAttributes().get(ErrorAttributes.ERROR_TYPE))
        .isEqualTo("500");
  }

  @Test
  void rememberedSpanNamesAreTheNamesOfTheirOwnMethodAndPath() {
    // More method/path pairs than the factory remembers, twice over, plus paths too long to
    // remember: every name is the one made from scratch for that very method and path.
    String[] methods = {"GET", "POST", "PROPFIND"};
    String longPath = "/docs/" + "x".repeat(300) + "/7";
    for (int round = 0; round < 2; round++) {
      for (int i = 0; i < 1500; i++) {
        String method = methods[i % methods.length];
        String path = i % 100 == 0 ? longPath + i : (i % 2 == 0 ? "/items/" + i : "/page" + i);
        String expected =
            (method.equals("PROPFIND") ? "HTTP" : method) + " " + RouteTemplate.of(path);
        assertThat(factory.toSpan(serverExchange(method, path + "?q=" + round, 200)).getName())
            .as(method + " " + path)
            .isEqualTo(expected);
      }
    }
  }

  @Test
  void unknownMethodIsOtherWithOriginalAndNamedHttp() {
    SpanData span = factory.toSpan(serverExchange("PROPFIND", "/dav/7", 207));
    assertThat(span.getName()).isEqualTo("HTTP /dav/{id}");
    assertThat(span.getAttributes().get(HttpAttributes.HTTP_REQUEST_METHOD)).isEqualTo("_OTHER");
    assertThat(span.getAttributes().get(HttpAttributes.HTTP_REQUEST_METHOD_ORIGINAL))
        .isEqualTo("PROPFIND");
    // Methods are case-sensitive: "get" is not GET.
    assertThat(factory.toSpan(serverExchange("get", "/", 200)).getAttributes()
            .get(HttpAttributes.HTTP_REQUEST_METHOD)).isEqualTo("_OTHER");
  }

  @Test
  void connectHasMethodOnlyName() {
    SpanData span = factory.toSpan(serverExchange("CONNECT", "example.com:443", 200));
    assertThat(span.getName()).isEqualTo("CONNECT");
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "example.com           | example.com | 80",
        "example.com:8443      | example.com | 8443",
        "[::1]:8080            | ::1         | 8080",
        "[2001:db8::7]         | 2001:db8::7 | 80",
        "10.0.0.1:notaport     | 10.0.0.1    | ",
        "10.0.0.1:70000        | 10.0.0.1    | ",
      })
  void hostHeaderGivesServerAddressAndPort(String host, String address, Long port) {
    SpanData span = factory.toSpan(serverExchange("GET", "/", 200).setHost(host));
    assertThat(span.getAttributes().get(ServerAttributes.SERVER_ADDRESS)).isEqualTo(address);
    assertThat(span.getAttributes().get(ServerAttributes.SERVER_PORT)).isEqualTo(port);
  }

  @Test
  void ipv6ClientUrlHasBracketsAndPeerIsCompressed() {
    ConnectionInfo c = connection(1, "::1", 40000, "::1", 8080);
    SpanData span = factory.toSpan(respond(request(c, Side.CLIENT, "GET", "/a", 1, 1), 200, 2)
        .setHost("[::1]:8080"));
    assertThat(span.getAttributes().get(UrlAttributes.URL_FULL)).isEqualTo("http://[::1]:8080/a");
    assertThat(span.getAttributes().get(NetworkAttributes.NETWORK_PEER_ADDRESS)).isEqualTo("::1");
  }

  @Test
  void secretQueryValuesAreRedacted() {
    String target =
        "/download?file=a.txt&access_token=tok1&X-Amz-Signature=sig2&X-Amz-Credential=cred3"
            + "&X-Goog-Signature=sig4&Password=pw5&page=2&flag&api%5Fkey=k6&sig=s7&AWSAccessKeyId=a8";
    SpanData span = factory.toSpan(serverExchange("GET", target, 200));
    String query = span.getAttributes().get(UrlAttributes.URL_QUERY);
    assertThat(query)
        .isEqualTo(
            "file=a.txt&access_token=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED"
                + "&X-Goog-Signature=REDACTED&Password=REDACTED&page=2&flag&api%5Fkey=REDACTED"
                + "&sig=REDACTED&AWSAccessKeyId=REDACTED");
    assertThat(span.getName()).doesNotContain("tok1");
  }

  @Test
  void longValuesAreCapped() {
    String longPath = "/p/" + "a".repeat(5000);
    String longQuery = "q=" + "b".repeat(5000);
    SpanData span =
        factory.toSpan(
            serverExchange("GET", longPath + "?" + longQuery, 200)
                .setUserAgent("U".repeat(1000))
                .setHost("h".repeat(1000)));
    Attributes a = span.getAttributes();
    assertThat(a.get(UrlAttributes.URL_PATH)).hasSize(SpanFactory.MAX_URL_CHARS).startsWith("/p/aaa");
    assertThat(a.get(UrlAttributes.URL_QUERY)).hasSize(SpanFactory.MAX_URL_CHARS);
    assertThat(a.get(UserAgentAttributes.USER_AGENT_ORIGINAL)).hasSize(SpanFactory.MAX_VALUE_CHARS);
    assertThat(a.get(ServerAttributes.SERVER_ADDRESS)).hasSize(SpanFactory.MAX_VALUE_CHARS);
    assertThat(span.getName()).isEqualTo("GET /p/{id}");
    a.forEach((key, value) -> assertThat(value.toString()).hasSizeLessThanOrEqualTo(2048));
  }

  @Test
  void traceContextFromExchangeIsUsedElseNewRoot() {
    SpanContext parent = SpanContext.createFromRemoteParent(
        "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", TraceFlags.getSampled(),
        TraceState.getDefault());
    SpanContext own = SpanContext.create(
        "4bf92f3577b34da6a3ce929d0e0e4736", "1111111111111111", TraceFlags.getSampled(),
        TraceState.getDefault());
    SpanData linked = factory.toSpan(serverExchange("GET", "/", 200).setTraceContext(own, parent));
    assertThat(linked.getSpanContext()).isEqualTo(own);
    assertThat(linked.getParentSpanId()).isEqualTo("00f067aa0ba902b7");

    SpanData root = factory.toSpan(serverExchange("GET", "/", 200));
    assertThat(root.getSpanContext().isValid()).isTrue();
    assertThat(root.getSpanContext().isSampled()).isTrue();
    assertThat(root.getParentSpanContext().isValid()).isFalse();
  }

  @Test
  void peerAttributesAreAddedButConventionAttributesWin() {
    SpanFactory withPeers = new SpanFactory(c -> RESOURCE, e -> Attributes.of(
        AttributeKey.stringKey("peer.service"), "payments",
        ServerAttributes.SERVER_ADDRESS, "wrong"), clock);
    SpanData span = withPeers.toSpan(serverExchange("GET", "/", 200).setHost("right"));
    assertThat(span.getAttributes().get(AttributeKey.stringKey("peer.service")))
        .isEqualTo("payments");
    assertThat(span.getAttributes().get(ServerAttributes.SERVER_ADDRESS)).isEqualTo("right");
  }

  @Test
  void monotonicClockRecalibratesAfterItsInterval() {
    AtomicLong epoch = new AtomicLong(1_000_000_000_000L);
    AtomicLong mono = new AtomicLong(500);
    MonotonicClock c = new MonotonicClock(epoch::get, mono::get, Duration.ofNanos(1000));
    assertThat(c.toEpochNanos(600)).isEqualTo(1_000_000_000_100L);
    epoch.addAndGet(50); // wall clock stepped, not yet noticed
    assertThat(c.toEpochNanos(600)).isEqualTo(1_000_000_000_100L);
    mono.addAndGet(1000);
    epoch.addAndGet(1000);
    assertThat(c.toEpochNanos(600)).isEqualTo(1_000_000_000_150L);
  }

  @Test
  void systemClockMatchesWallClock() {
    MonotonicClock c = MonotonicClock.system();
    long wall = System.currentTimeMillis() * 1_000_000L;
    long converted = c.toEpochNanos(System.nanoTime());
    assertThat(Math.abs(converted - wall)).isLessThan(Duration.ofSeconds(1).toNanos());
  }
}
