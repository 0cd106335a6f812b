import type { ClientConfig } from 'pg';
import pgListenModule, { type Options, type Subscriber } from 'pg-listen';

type CreateSubscriber = (connectionConfig?: ClientConfig, options?: Options) => Subscriber;

/**
 * pg-listen's factory. pg-listen is CommonJS with a `default` property on its export: under
 * NodeNext the default import is typed as the module namespace (TS2349, "not callable") while at
 * run time it may be either, so take `.default` when it is there. None of this reaches our users'
 * typings.
 */
export const createSubscriber: CreateSubscriber =
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- the import's type differs between NodeNext and the CommonJS build
  (pgListenModule as unknown as { default?: CreateSubscriber }).default ?? (pgListenModule as unknown as CreateSubscriber);
