package dev.wirespan.span;

import dev.wirespan.http.HttpExchange;
import io.opentelemetry.api.common.Attributes;

/**
 * Names the remote end of an exchange (the pod, service, workload or node behind the peer
 * address) as span attributes, for service maps. The default knows nothing.
 */
@FunctionalInterface
public interface PeerResolver {
  PeerResolver NONE = exchange -> Attributes.empty();

  /** Attributes to add to the exchange's span; empty when the peer is not known. */
  Attributes peerAttributes(HttpExchange exchange);
}
