package dev.wirespan.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class HttpSettingsTest {
  @Test
  void defaults() {
    HttpSettings s = HttpSettings.defaults();
    assertThat(s.responseTimeout()).isEqualTo(Duration.ofSeconds(30));
    assertThat(s.idleConnectionTimeout()).isEqualTo(Duration.ofSeconds(120));
    assertThat(s.maxConnections()).isEqualTo(65_536);
    assertThat(s.maxBufferedBytesPerConnection()).isEqualTo(64 * 1024);
    assertThat(s.maxBufferedBytesTotal()).isEqualTo(32L * 1024 * 1024);
    assertThat(s.maxPendingRequestsPerConnection()).isEqualTo(64);
    assertThat(s.maxHeaderBytes()).isEqualTo(16 * 1024);
    assertThat(s.maxInitialLineBytes()).isEqualTo(8 * 1024);
    assertThat(s.toBuilder().build().toString()).isEqualTo(s.toString());
  }

  @Test
  void rejectsValuesThatCannotWork() {
    assertThatThrownBy(() -> HttpSettings.builder().setResponseTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> HttpSettings.builder().setMaxConnections(0))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> HttpSettings.builder().setMaxBufferedBytesPerConnection(1024).build())
        .as("a connection must hold a legal header block")
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> HttpSettings.builder().setMaxBufferedBytesTotal(1024).build())
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> HttpSettings.builder().setIdleConnectionTimeout(null))
        .isInstanceOf(NullPointerException.class);
  }
}
