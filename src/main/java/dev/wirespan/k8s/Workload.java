package dev.wirespan.k8s;

import javax.annotation.Nullable;

/**
 * The controllers a pod belongs to, followed through owner references: ReplicaSet to Deployment,
 * Job to CronJob, or a StatefulSet, DaemonSet or other controller directly.
 *
 * @param kind the kind of the top-most known controller (e.g. "Deployment"), null when none
 * @param name its name
 * @param viaFallback true when a step of the chain could not be read from its object (not
 *     visible: RBAC, not listed yet) and was taken from the owner reference or, for a
 *     ReplicaSet's Deployment, from the documented {@code pod-template-hash} name rule
 */
public record Workload(
    @Nullable String kind,
    @Nullable String name,
    @Nullable String deployment,
    @Nullable String replicaSet,
    @Nullable String statefulSet,
    @Nullable String daemonSet,
    @Nullable String job,
    @Nullable String cronJob,
    boolean viaFallback) {
  /** A pod no controller owns. */
  public static final Workload NONE =
      new Workload(null, null, null, null, null, null, null, null, false);
}
