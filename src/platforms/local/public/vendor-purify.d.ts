// Types of /assets/vendor-purify.js (DOMPurify's browser ES module, served from node_modules by ../vendor.ts).
export { default } from 'dompurify';
export * from 'dompurify';
