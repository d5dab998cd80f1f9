/**
 * The HTTP stage: {@link dev.wirespan.http.ConnectionTracker} turns capture events into {@link
 * dev.wirespan.http.HttpExchange}s (per-connection stream reassembly, Netty's HTTP/1.x decoders,
 * request/response pairing) and hands them to an {@link dev.wirespan.http.ExchangeListener};
 * {@link dev.wirespan.http.HttpSettings} bounds its time and memory.
 */
@ParametersAreNonnullByDefault
package dev.wirespan.http;

import javax.annotation.ParametersAreNonnullByDefault;
