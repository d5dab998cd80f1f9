package dev.wirespan.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/** Keeps what the tracker reported and checks the listener contract as it goes. */
final class RecordingListener implements ExchangeListener {
  final List<HttpExchange> started = new ArrayList<>();
  final List<HttpExchange> ended = new ArrayList<>();
  private final Set<HttpExchange> endedSet = Collections.newSetFromMap(new IdentityHashMap<>());
  private final Set<HttpExchange> startedSet = Collections.newSetFromMap(new IdentityHashMap<>());

  @Override
  public void onRequestStart(HttpExchange exchange) {
    assertThat(startedSet.add(exchange)).as("onRequestStart twice for %s", exchange).isTrue();
    assertThat(exchange.method()).isNotEmpty();
    started.add(exchange);
  }

  @Override
  public void onExchangeEnd(HttpExchange exchange) {
    assertThat(startedSet).as("ended before it started: %s", exchange).contains(exchange);
    assertThat(endedSet.add(exchange)).as("onExchangeEnd twice for %s", exchange).isTrue();
    ended.add(exchange);
  }
}
