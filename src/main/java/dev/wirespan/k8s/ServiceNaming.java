package dev.wirespan.k8s;

import javax.annotation.Nullable;

/**
 * {@code service.name} for a pod the way OpenTelemetry's Kubernetes conventions choose it
 * (semantic conventions, "Specify resource attributes using Kubernetes annotations"): the
 * {@code resource.opentelemetry.io/service.name} annotation, then the well-known labels
 * {@code app.kubernetes.io/instance} and {@code app.kubernetes.io/name}, then the workload
 * (Deployment, ReplicaSet, StatefulSet, DaemonSet, CronJob, Job), then the pod name. The same
 * rule names a pod as a peer, so that a peer's {@code peer.service} matches the
 * {@code service.name} its own spans carry.
 */
final class ServiceNaming {
  private ServiceNaming() {}

  static String logicalName(
      @Nullable String annotation,
      @Nullable String appInstance,
      @Nullable String appName,
      Workload workload,
      String podName) {
    if (notBlank(annotation)) {
      return annotation;
    }
    if (notBlank(appInstance)) {
      return appInstance;
    }
    if (notBlank(appName)) {
      return appName;
    }
    // The top of the owner chain is the conventions' order (Deployment before its ReplicaSet,
    // CronJob before its Job); a controller of another kind owning a ReplicaSet (e.g. a rollout
    // resource) names the service by itself rather than by the hash-suffixed ReplicaSet.
    if (notBlank(workload.name())) {
      return workload.name();
    }
    return podName;
  }

  static boolean notBlank(@Nullable String s) {
    return s != null && !s.isBlank();
  }
}
