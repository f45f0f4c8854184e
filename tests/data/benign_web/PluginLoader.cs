using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;

namespace Shop.Plugins
{
    /// <summary>Loads plugin assemblies from ~/bin/plugins at application start.</summary>
    public static class PluginLoader
    {
        public static IList<IPlugin> LoadAll(string folder)
        {
            var found = new List<IPlugin>();
            foreach (string dll in Directory.GetFiles(folder, "*.dll"))
            {
                Assembly asm = Assembly.Load(File.ReadAllBytes(dll));
                foreach (Type t in asm.GetExportedTypes())
                {
                    if (typeof(IPlugin).IsAssignableFrom(t) && !t.IsAbstract)
                        found.Add((IPlugin)Activator.CreateInstance(t));
                }
            }
            return found;
        }
    }

    public interface IPlugin { string Name { get; } void Start(); }
}
