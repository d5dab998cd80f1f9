/**
 * Kubernetes metadata: the resource of the pod and container behind a traced process, and the pod,
 * service, workload or node behind a peer address. Everything on the span path is a map read;
 * the maps are filled by fabric8 informers ({@link dev.wirespan.k8s.KubernetesMetadata}).
 */
@ParametersAreNonnullByDefault
package dev.wirespan.k8s;

import javax.annotation.ParametersAreNonnullByDefault;
