import type { Link, Signaler } from '../src/index.js';

export declare function linkSignaler(link: Link): Signaler;
export declare function createLocalSignalerPair(): [Signaler, Signaler];
