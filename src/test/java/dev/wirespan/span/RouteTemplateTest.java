package dev.wirespan.span;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RouteTemplateTest {
  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource(
      delimiter = '|',
      value = {
        "/                                              | /",
        "/users                                         | /users",
        "/users/                                        | /users/",
        "/users/42                                      | /users/{id}",
        "/users/42/orders/7                             | /users/{id}/orders/{id}",
        "/users/42?expand=true&token=x                  | /users/{id}",
        "/a/b#frag                                      | /a/b",
        "/api/v1/items                                  | /api/v1/items",
        "/v2/order-items/page2                          | /v2/order-items/page2",
        "/items/123e4567-e89b-12d3-a456-426614174000    | /items/{id}",
        "/items/123E4567-E89B-12D3-A456-426614174000    | /items/{id}",
        "/commits/9fceb02d0ae598e95dc970b74767f19372d61af8 | /commits/{id}",
        "/objects/a1b2c3d4                              | /objects/{id}",
        "/objects/abc123                                | /objects/abc123",
        "/deadbeef                                      | /deadbeef",
        "/files/01ARZ3NDEKTSV4RRFFQ69G5FAV              | /files/{id}",
        "/t/dGhpcyBpcyBhIHRva2VuMTIz                    | /t/{id}",
        "/users/john.doe@example.com/profile            | /users/{id}/profile",
        "/reports/2024-05-01                            | /reports/{id}",
        "/reports/2024-05-01T12:30:00                   | /reports/{id}",
        "/images/12345.png                              | /images/{id}.png",
        "/static/app.js                                 | /static/app.js",
        "/docs/1.2.3/index.html                         | /docs/{id}/index.html",
        "http://example.com/users/9?x=1                 | /users/{id}",
        "http://example.com                             | /",
        "http://example.com?x=1                         | /",
        "/a//b                                          | /a//b",
        "/1/2/3/4/5/6/7/8/9/10/11/12                    | /{id}/{id}/{id}/{id}/{id}/{id}/{id}/{id}/{id}/{id}/...",
        "/x/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa | /x/{id}",
        "/search/hello%20world                          | /search/hello%20world",
        "/apis/discovery.k8s.io/v1/endpointslices       | /apis/discovery.k8s.io/v1/endpointslices",
        "/apis/metrics.k8s.io/v1beta1/pods              | /apis/metrics.k8s.io/v1beta1/pods",
      })
  void replacesIdentifierSegments(String target, String route) {
    assertThat(RouteTemplate.of(target)).isEqualTo(route);
  }

  @ParameterizedTest
  @CsvSource({"example.com:443", "*", "''"})
  void targetWithoutPathHasNoRoute(String target) {
    assertThat(RouteTemplate.of(target)).isEmpty();
  }
}
