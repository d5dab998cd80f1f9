package dev.wirespan.span;

import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.common.InstrumentationLibraryInfo;
import io.opentelemetry.sdk.common.InstrumentationScopeInfo;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.EventData;
import io.opentelemetry.sdk.trace.data.LinkData;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.data.StatusData;
import java.util.List;
import java.util.Objects;

/** An ended span built from one HTTP exchange. Immutable; no events, no links. */
public final class ExchangeSpanData implements SpanData {
  private final String name;
  private final SpanKind kind;
  private final SpanContext spanContext;
  private final SpanContext parentSpanContext;
  private final StatusData status;
  private final long startEpochNanos;
  private final long endEpochNanos;
  private final Attributes attributes;
  private final Resource resource;
  private final InstrumentationScopeInfo scope;

  ExchangeSpanData(
      String name,
      SpanKind kind,
      SpanContext spanContext,
      SpanContext parentSpanContext,
      StatusData status,
      long startEpochNanos,
      long endEpochNanos,
      Attributes attributes,
      Resource resource,
      InstrumentationScopeInfo scope) {
    this.name = Objects.requireNonNull(name, "name");
    this.kind = Objects.requireNonNull(kind, "kind");
    this.spanContext = Objects.requireNonNull(spanContext, "spanContext");
    this.parentSpanContext = Objects.requireNonNull(parentSpanContext, "parentSpanContext");
    this.status = Objects.requireNonNull(status, "status");
    this.startEpochNanos = startEpochNanos;
    this.endEpochNanos = endEpochNanos;
    this.attributes = Objects.requireNonNull(attributes, "attributes");
    this.resource = Objects.requireNonNull(resource, "resource");
    this.scope = Objects.requireNonNull(scope, "scope");
  }

  @Override
  public String getName() {
    return name;
  }

  @Override
  public SpanKind getKind() {
    return kind;
  }

  @Override
  public SpanContext getSpanContext() {
    return spanContext;
  }

  @Override
  public SpanContext getParentSpanContext() {
    return parentSpanContext;
  }

  @Override
  public StatusData getStatus() {
    return status;
  }

  @Override
  public long getStartEpochNanos() {
    return startEpochNanos;
  }

  @Override
  public Attributes getAttributes() {
    return attributes;
  }

  @Override
  public List<EventData> getEvents() {
    return List.of();
  }

  @Override
  public List<LinkData> getLinks() {
    return List.of();
  }

  @Override
  public long getEndEpochNanos() {
    return endEpochNanos;
  }

  @Override
  public boolean hasEnded() {
    return true;
  }

  @Override
  public int getTotalRecordedEvents() {
    return 0;
  }

  @Override
  public int getTotalRecordedLinks() {
    return 0;
  }

  @Override
  public int getTotalAttributeCount() {
    return attributes.size();
  }

  @Override
  @Deprecated
  @SuppressWarnings("deprecation") // required by the interface; the scope info replaces it
  public InstrumentationLibraryInfo getInstrumentationLibraryInfo() {
    return InstrumentationLibraryInfo.create(scope.getName(), scope.getVersion());
  }

  @Override
  public InstrumentationScopeInfo getInstrumentationScopeInfo() {
    return scope;
  }

  @Override
  public Resource getResource() {
    return resource;
  }

  @Override
  public String toString() {
    return "ExchangeSpanData{" + kind + " " + name + " " + spanContext.getTraceId() + "/"
        + spanContext.getSpanId() + " parent=" + parentSpanContext.getSpanId() + " " + status
        + " " + attributes + "}";
  }
}
