// A small client-side router over the History API: the app has a handful of routes and needs
// no more than the path, the query string and links that keep the namespace.
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from "react";

const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  window.addEventListener("popstate", listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener("popstate", listener);
  };
}

function snapshot(): string {
  return window.location.pathname + window.location.search;
}

/** useLocation re-renders on navigation and returns the path and the query. */
export function useLocation(): { path: string; query: URLSearchParams } {
  const loc = useSyncExternalStore(subscribe, snapshot);
  const q = loc.indexOf("?");
  return { path: q < 0 ? loc : loc.slice(0, q), query: new URLSearchParams(q < 0 ? "" : loc.slice(q)) };
}

/** navigate goes to a path within the app. */
export function navigate(to: string, replace = false): void {
  if (to === snapshot()) return;
  if (replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  for (const l of listeners) l();
}

/** withNamespace is path with ?namespace=ns (cluster-wide pages keep it too, for the way back). */
export function withNamespace(path: string, ns: string): string {
  return ns ? `${path}?namespace=${encodeURIComponent(ns)}` : path;
}

/**
 * followLinks is a click handler for a container: clicks on same-origin anchors inside it
 * navigate without reloading the page. One handler for the whole app, not one per link (a
 * list of a thousand rows has a thousand links).
 */
export function followLinks(e: MouseEvent<HTMLElement>): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element).closest?.("a");
  if (!a || a.target || a.hasAttribute("download") || a.origin !== window.location.origin) return;
  e.preventDefault();
  navigate(a.pathname + a.search);
}

/** Link is an anchor to a path of the app (followLinks makes it navigate in place). */
export function Link({ to, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string }) {
  return <a href={to} {...rest} />;
}
