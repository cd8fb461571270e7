// useCanI: whether the user may do a verb on a resource, from a SelfSubjectAccessReview.
import { useEffect, useState } from "react";
import { canI } from "../api/access";
import type { Resource } from "../api/resources";

/** useCanI is undefined until the API answered, then whether the user may. */
export function useCanI(verb: string, r: Resource, namespace: string, subresource = ""): boolean | undefined {
  const [allowed, setAllowed] = useState<boolean | undefined>(undefined);
  useEffect(() => {
    let current = true;
    setAllowed(undefined);
    canI(verb, r, namespace, subresource).then((a) => current && setAllowed(a));
    return () => {
      current = false;
    };
  }, [verb, r, namespace, subresource]);
  return allowed;
}
