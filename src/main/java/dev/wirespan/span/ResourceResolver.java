package dev.wirespan.span;

import dev.wirespan.http.ConnectionInfo;
import io.opentelemetry.sdk.resources.Resource;

/**
 * The OpenTelemetry resource of the process that made an exchange: per process on a plain host,
 * per container on Kubernetes. Implementations cache and return the same {@link Resource}
 * instance for the same process or container (the OTLP marshaler groups spans by instance).
 */
@FunctionalInterface
public interface ResourceResolver {
  /** Never null; falls back to a resource that names the process as far as it is known. */
  Resource resolve(ConnectionInfo connection);
}
