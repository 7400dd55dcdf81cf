// dcmjs ships no type declarations; the tests and the bench use it only as an oracle and a peer.
declare module 'dcmjs';
