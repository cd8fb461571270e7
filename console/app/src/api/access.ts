// Whether the user may do something, asked with a SelfSubjectAccessReview as the user.
import { request } from "./client";
import type { Resource } from "./resources";

interface AccessReview {
  status?: { allowed?: boolean; denied?: boolean };
}

const cache = new Map<string, Promise<boolean>>();

/**
 * canI asks whether the user may do verb on the resource in the namespace. When the review
 * itself cannot be made (an API server that does not serve authorization.k8s.io), it answers
 * true: the action is offered and the API's own refusal is shown if it comes.
 */
export function canI(verb: string, r: Resource, namespace: string, subresource = ""): Promise<boolean> {
  const ns = r.namespaced ? namespace : "";
  const key = [verb, r.group, r.plural, subresource, ns].join("|");
  let answer = cache.get(key);
  if (!answer) {
    answer = request<AccessReview>("POST", "/k8s/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectAccessReview",
        spec: { resourceAttributes: { verb, group: r.group, resource: r.plural, subresource, namespace: ns } },
      },
    }).then(
      (review) => review?.status?.allowed === true,
      () => {
        cache.delete(key); // not an answer: ask again next time
        return true;
      },
    );
    cache.set(key, answer);
  }
  return answer;
}

/** forgetAccess drops the cached answers (on login and logout: another user). */
export function forgetAccess(): void {
  cache.clear();
}
