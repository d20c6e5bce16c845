# Loads a Vagrantfile with a stand-in for Vagrant's configuration API and
# prints, as JSON, the machines it defines: their networks, forwarded ports,
# provider settings and provisioners. tests/tests/packaging.rs checks the
# plan for one VM and for 1 master + N agents without a provider or a box.
#
#   ruby vagrant/tests/vagrantfile_plan.rb path/to/Vagrantfile

require "json"

# Records `name = value` settings (vb.memory = ..., lv.cpus = ...).
class Settings
  attr_reader :values

  def initialize
    @values = {}
  end

  def method_missing(name, *args)
    return super unless name.to_s.end_with?("=")

    @values[name.to_s.chomp("=")] = args.first
  end

  def respond_to_missing?(name, include_private = false)
    name.to_s.end_with?("=") || super
  end
end

class VMConfig
  attr_accessor :box, :hostname
  attr_reader :networks, :provisions, :providers, :machines, :synced_folders

  def initialize
    @networks = []
    @provisions = []
    @providers = {}
    @machines = []
    @synced_folders = []
  end

  def network(kind, **opts)
    @networks << { "kind" => kind }.merge(opts.transform_keys(&:to_s))
  end

  def provision(name, **opts)
    @provisions << { "name" => name }.merge(opts.transform_keys(&:to_s))
  end

  def synced_folder(src, dst, **opts)
    @synced_folders << { "src" => src, "dst" => dst }.merge(opts.transform_keys(&:to_s))
  end

  def provider(name)
    settings = Settings.new
    override = Config.new
    yield settings, override
    @providers[name] = { "settings" => settings.values, "box" => override.vm.box }
  end

  def define(name, **opts)
    machine = Config.new
    yield machine
    @machines << { "name" => name, "primary" => opts[:primary] == true, "vm" => machine.vm }
  end
end

class Config
  attr_reader :vm

  def initialize
    @vm = VMConfig.new
  end
end

module Vagrant
  class << self
    attr_reader :root
  end

  def self.configure(version)
    raise "unexpected configuration version #{version}" unless version == "2"

    @root = Config.new
    yield @root
  end
end

load ARGV.fetch(0)
root = Vagrant.root.vm
machines = root.machines.map do |m|
  vm = m["vm"]
  {
    "name" => m["name"], "primary" => m["primary"], "hostname" => vm.hostname,
    "networks" => vm.networks, "provisions" => vm.provisions, "providers" => vm.providers,
  }
end
puts JSON.generate("box" => root.box, "synced_folders" => root.synced_folders, "machines" => machines)
