package dev.wirespan.k8s;

import javax.annotation.Nullable;

/**
 * The health of one informer.
 *
 * @param resource what it watches, e.g. "pods" or "replicasets"
 * @param state where it stands
 * @param objects objects in its cache (what lookups answer from)
 * @param lastError the last list or watch failure, kept after recovery for diagnosis; null when
 *     none
 */
public record InformerStatus(String resource, State state, int objects, @Nullable String lastError) {
  /** Where an informer stands. */
  public enum State {
    /**
     * Listing (for the first time: lookups answer "not known" meanwhile), or re-establishing a
     * watch that ended normally.
     */
    SYNCING,
    /** Listed and watching: the cache follows the API server. */
    WATCHING,
    /**
     * The list or watch failed (API server away, slow, or refusing); the informer retries by
     * itself and lookups answer from what was cached before.
     */
    FAILING,
    /** Closed. */
    STOPPED
  }

  public boolean up() {
    return state == State.WATCHING;
  }
}
