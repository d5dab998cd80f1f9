/**
 * What the agent knows of a traced process from {@code /proc}: its files, the container its cgroup
 * names, the OpenTelemetry variables of its environment. Shared by the host and the Kubernetes
 * resource resolvers.
 */
@ParametersAreNonnullByDefault
package dev.wirespan.process;

import javax.annotation.ParametersAreNonnullByDefault;
