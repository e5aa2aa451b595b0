/** Routing integration of MP devices: next-hop lookups through the kernel's routing table. */
export { RouteLookup, type RouteLookupOptions, type RouteLookupStats } from './route-lookup.js';
