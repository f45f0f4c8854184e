<?php

/*
 * Twig 1.x/2.x-style Environment excerpt (style reproduction).
 * When the cache is disabled the compiled template source is evaluated in-process.
 */

namespace Twig;

use Twig\Cache\CacheInterface;
use Twig\Error\RuntimeError;

class EnvironmentLite
{
    private $cache;
    private $loader;
    private $templateClassPrefix = '__TwigTemplate_';
    private $loadedTemplates = [];
    private $optionsHash = '';

    public function __construct($loader, CacheInterface $cache)
    {
        $this->loader = $loader;
        $this->cache = $cache;
    }

    public function getTemplateClass(string $name, int $index = null): string
    {
        $key = $this->loader->getCacheKey($name) . $this->optionsHash;

        return $this->templateClassPrefix . hash('sha256', $key) . (null === $index ? '' : '___' . $index);
    }

    public function loadTemplate(string $cls, string $name, int $index = null)
    {
        $mainCls = $cls;
        if (null !== $index) {
            $cls .= '___' . $index;
        }

        if (isset($this->loadedTemplates[$cls])) {
            return $this->loadedTemplates[$cls];
        }

        if (!class_exists($cls, false)) {
            $key = $this->cache->generateKey($name, $mainCls);

            if (!$this->isAutoReload() || $this->isTemplateFresh($name, $this->cache->getTimestamp($key))) {
                $this->cache->load($key);
            }

            $source = null;
            if (!class_exists($cls, false)) {
                $source = $this->getLoader()->getSourceContext($name);
                $content = $this->compileSource($source);
                $this->cache->write($key, $content);
                $this->cache->load($key);

                if (!class_exists($mainCls, false)) {
                    /* Last line of defense if either $this->bcWriteCacheFile was used,
                     * $this->cache is implemented as a no-op or we have a race condition
                     * where the cache was cleared between the above calls to write to and load from
                     * the cache.
                     */
                    eval('?>' . $content);
                }

                if (!class_exists($cls, false)) {
                    throw new RuntimeError(sprintf('Failed to load Twig template "%s", index "%s": cache might be corrupted.', $name, $index), -1, $source);
                }
            }
        }

        return $this->loadedTemplates[$cls] = new $cls($this);
    }

    public function compileSource($source): string
    {
        return $this->compiler->compile($this->parser->parse($this->lexer->tokenize($source)))->getSource();
    }

    public function getLoader() { return $this->loader; }
    public function isAutoReload(): bool { return false; }
    public function isTemplateFresh(string $name, int $time): bool { return $this->loader->isFresh($name, $time); }
}
