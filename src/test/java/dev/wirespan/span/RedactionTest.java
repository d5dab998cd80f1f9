package dev.wirespan.span;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RedactionTest {
  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "a=1&b=2                          | a=1&b=2",
        "token=x                          | token=REDACTED",
        "a=1&token=                       | a=1&token=REDACTED",
        "&&Token=x&                       | &&Token=REDACTED&",
        "flag&secret                      | flag&secret",
        "q=a%3Db&client_secret=s=t        | q=a%3Db&client_secret=REDACTED",
        "access%5Ftoken=x                 | access%5Ftoken=REDACTED",
        "X-Amz-Security-Token=x&x=1       | X-Amz-Security-Token=REDACTED&x=1",
        "code=abc&state=xyz               | code=REDACTED&state=xyz",
      })
  void redactsSecretQueryValues(String query, String expected) {
    assertThat(Redaction.redactQuery(query)).isEqualTo(expected);
  }

  @Test
  void emptyQueryStaysEmpty() {
    assertThat(Redaction.redactQuery("")).isEmpty();
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "app --port 80                         | app --port 80",
        "app --password=x --db-password y -v   | app --password=REDACTED --db-password REDACTED -v",
        "env API_KEY=abc run                   | env API_KEY=REDACTED run",
        "app --token --verbose                 | app --token --verbose",
      })
  void redactsSecretOptionsOfCommandLines(String line, String expected) {
    assertThat(Redaction.redactCommandLine(line)).isEqualTo(expected);
  }

  @Test
  void capNeverSplitsASurrogatePair() {
    String s = "ab\uD83D\uDE00cd";
    assertThat(Redaction.cap(s, 3)).isEqualTo("ab");
    assertThat(Redaction.cap(s, 4)).isEqualTo("ab\uD83D\uDE00");
    assertThat(Redaction.cap(s, 100)).isSameAs(s);
  }
}
